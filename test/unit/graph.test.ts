import { describe, expect, it } from "vitest";
import {
  ancestors,
  SECRET_VALUES,
  provisionedStackConfig,
  Registration,
  runMockProgram,
  stackConfig,
} from "./support/mockProgram";

const withAdmin = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const STEP_TYPES = new Set([
  "pulumi-nodejs:dynamic:Resource",
  "command:remote:Command",
  "command:local:Command",
  "aws:ec2/instance:Instance",
  "aws:lb/targetGroupAttachment:TargetGroupAttachment",
]);

interface Case {
  title: string;
  config: Record<string, unknown>;
  newNode: string;
  /** Every node in upgrade order, the NEW NODE first. */
  waves: string[][];
  provisioned?: boolean;
}

function nodes(count: number, first = 1): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + first}`);
}

const cases: Case[] = [
  { title: "2 nodes", config: stackConfig(2), newNode: "node-1", waves: [["node-1"], ["node-2"]] },
  {
    title: "3 nodes",
    config: stackConfig(3),
    newNode: "node-1",
    waves: [["node-1"], ["node-2"], ["node-3"]],
  },
  {
    title: "50 nodes",
    config: stackConfig(50),
    newNode: "node-1",
    waves: [["node-1"], ...nodes(49, 2).map((n) => [n])],
  },
  {
    title: "a NEW NODE that is not first in the list",
    config: stackConfig(3, { newNode: { existing: "node-3" } }),
    newNode: "node-3",
    waves: [["node-3"], ["node-1"], ["node-2"]],
  },
  {
    title: "maxUnavailable 2 with 5 nodes",
    config: stackConfig(5, {
      loadBalancer: { type: "haproxy", runtimeApi: "127.0.0.1:9999", backend: "glance", maxUnavailable: 2 },
    }),
    newNode: "node-1",
    waves: [["node-1"], ["node-2", "node-3"], ["node-4", "node-5"]],
  },
  {
    title: "the command executor (mock-level: the Command plugin cannot run here)",
    config: stackConfig(3, { exec: "command" }),
    newNode: "node-1",
    waves: [["node-1"], ["node-2"], ["node-3"]],
  },
  {
    title:
      "1 existing node plus a provisioned NEW NODE on an ALB (mock-level: the AWS plugin cannot run here)",
    config: provisionedStackConfig(1),
    newNode: "node-new",
    waves: [["node-new"], ["node-1"]],
    provisioned: true,
  },
];

/** A mock input as text: a secret arrives wrapped with its value beside the signature. */
function plainText(value: unknown): string {
  if (value && typeof value === "object" && "value" in value)
    return String((value as { value: unknown }).value);
  return String(value ?? "");
}

function expectBefore(graph: Map<string, Set<string>>, earlier: string, later: string): void {
  const deps = graph.get(later);
  expect(deps, `${later} is registered`).toBeDefined();
  expect(deps?.has(earlier), `${earlier} must finish before ${later}`).toBe(true);
}

describe.each(cases)("the resource graph for $title", ({ config, newNode, waves, provisioned }) => {
  let registrations: Registration[];
  let graph: Map<string, Set<string>>;

  const setup = async () => {
    if (registrations) return;
    ({ registrations } = await runMockProgram(config, withAdmin));
    graph = ancestors(registrations);
  };
  const steps = () => registrations.filter((r) => STEP_TYPES.has(r.type));
  const stepNames = () => new Set(steps().map((r) => r.name));

  it("registers every step once, named as the runbook, each parented to a component", async () => {
    await setup();
    const names = steps().map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const node of waves.flat()) {
      for (const kind of ["upgrade", "start", "admit", "version"]) expect(names).toContain(`${node}/${kind}`);
      if (!(provisioned && node === newNode)) {
        expect(names).toContain(`${node}/drain`);
        expect(names).toContain(`${node}/stop`);
      }
    }
    for (const name of [
      "preflight",
      "db/backup",
      "db/allow-functions",
      "db/expand",
      "db/migrate",
      "db/verify",
    ]) {
      expect(names).toContain(name);
    }
    for (const name of ["fleet/verify", "db/contract", "db/restore-setting"]) expect(names).toContain(name);
    for (const step of steps()) expect(step.parent, `${step.name} has a parent`).toBeDefined();
  });

  it("I1: the backup completes before any node leaves rotation and before any schema change", async () => {
    await setup();
    expectBefore(graph, "preflight", "db/backup");
    for (const name of stepNames()) {
      if (/\/(drain|provision)$/.test(name) || /^db\/(expand|migrate|contract|allow-functions)$/.test(name)) {
        expectBefore(graph, "db/backup", name);
      }
    }
  });

  it("I2: each node is drained and verified stopped before its upgrade; the NEW NODE is upgraded before expand and started only after verify", async () => {
    await setup();
    for (const node of waves.flat()) {
      if (provisioned && node === newNode) {
        expectBefore(graph, `${node}/provision`, `${node}/upgrade`);
        continue;
      }
      expectBefore(graph, `${node}/drain`, `${node}/stop`);
      expectBefore(graph, `${node}/stop`, `${node}/upgrade`);
      expectBefore(graph, `${node}/upgrade`, `${node}/start`);
    }
    expectBefore(graph, `${newNode}/upgrade`, "db/expand");
    expectBefore(graph, "db/verify", `${newNode}/start`);
    expect(graph.get(`${newNode}/upgrade`)?.has("db/expand")).toBe(false);
  });

  it("I3: expand, then migrate, then verify, each exactly once, before anything is admitted", async () => {
    await setup();
    expectBefore(graph, "db/allow-functions", "db/expand");
    expectBefore(graph, "db/expand", "db/migrate");
    expectBefore(graph, "db/migrate", "db/verify");
    for (const kind of ["expand", "migrate", "verify"]) {
      expect(steps().filter((s) => s.name === `db/${kind}`)).toHaveLength(1);
    }
    for (const node of waves.flat()) expectBefore(graph, "db/verify", `${node}/admit`);
  });

  it("I3: glance-status upgrade check runs once, on the NEW NODE after its upgrade, before any schema step", async () => {
    await setup();
    const checks = steps().filter((s) => s.name.endsWith("/upgrade-check"));
    expect(checks.map((s) => s.name)).toEqual([`${newNode}/upgrade-check`]);
    expectBefore(graph, `${newNode}/upgrade`, `${newNode}/upgrade-check`);
    expectBefore(graph, `${newNode}/upgrade-check`, "db/allow-functions");
    expect(graph.get(`${newNode}/upgrade-check`)?.has("db/allow-functions")).toBe(false);
  });

  it("every drain waits for the image imports too, with the node's self URL and the database password", async () => {
    await setup();
    const drains = steps().filter((s) => s.name.endsWith("/drain"));
    expect(drains.length).toBeGreaterThan(0);
    for (const drain of drains) {
      const request = drain.inputs?.request as { imports?: { selfUrl: string; timeoutSeconds: number } };
      expect(request.imports?.selfUrl, drain.name).toMatch(/^https?:\/\/[^/]+$/);
      expect(request.imports?.timeoutSeconds).toBe(1800);
      expect(JSON.stringify(drain.inputs?.secrets ?? {})).toContain("dbPassword");
    }
  });

  it("I4: every node is admitted only after its health gate, which is part of its start step", async () => {
    await setup();
    for (const node of waves.flat()) {
      expectBefore(graph, `${node}/start`, `${node}/admit`);
      expect(stepNames().has(`${node}/health`), `${node}/health is folded into ${node}/start`).toBe(false);
      const start = steps().find((r) => r.name === `${node}/start`);
      expect(start, `${node}/start`).toBeDefined();
      const request = start?.inputs?.request as
        { healthGate?: { url: string; timeoutSeconds: number } } | undefined;
      if (start?.type === "pulumi-nodejs:dynamic:Resource") {
        expect(request?.healthGate?.url, `${node}/start gates on its health URL`).toMatch(/^https?:\/\/.+/);
        expect(request?.healthGate?.timeoutSeconds).toBeGreaterThan(0);
      } else {
        // The command executor runs the same gate as bash on the node, after the start command.
        const script = String(
          start?.type === "command:remote:Command" ? plainText(start.inputs?.stdin) : start?.inputs?.create,
        );
        expect(script).toMatch(/never answered 200 within \d+ s/);
        expect(script.indexOf("http_code")).toBeGreaterThan(script.indexOf("GLANCE_NODE"));
      }
    }
    if (provisioned) {
      expectBefore(graph, `${newNode}/start`, `${newNode}/attach`);
      expectBefore(graph, `${newNode}/attach`, `${newNode}/admit`);
    }
  });

  it("I5: waves of at most maxUnavailable; a wave drains only after the previous wave is admitted", async () => {
    await setup();
    for (let w = 1; w < waves.length; w++) {
      for (const node of waves[w]) {
        for (const previous of waves[w - 1]) expectBefore(graph, `${previous}/admit`, `${node}/drain`);
        // nodes of one wave do not wait for each other
        for (const sibling of waves[w]) {
          if (sibling !== node) expect(graph.get(`${node}/drain`)?.has(`${sibling}/admit`)).toBe(false);
        }
      }
    }
    // the captured drains group exactly into the expected waves: each drain's nearest admitted predecessors
    const drains = steps().filter((s) => s.name.endsWith("/drain") && !s.name.startsWith(`${newNode}/`));
    for (const drain of drains) {
      const waitsFor = drain.dependsOn.filter((d) => d.endsWith("/admit"));
      const wave = waves.findIndex((nodesInWave) => nodesInWave.includes(drain.name.split("/")[0]));
      expect(waitsFor.sort()).toEqual(waves[wave - 1].map((n) => `${n}/admit`).sort());
    }
  });

  it("I6: contract runs only after every node is admitted, reports its release and the fleet is verified", async () => {
    await setup();
    for (const node of waves.flat()) {
      expectBefore(graph, `${node}/admit`, "db/contract");
      expectBefore(graph, `${node}/version`, "fleet/verify");
      expectBefore(graph, `${node}/admit`, `${node}/version`);
    }
    expectBefore(graph, "fleet/verify", "db/contract");
    expectBefore(graph, "db/contract", "db/restore-setting");
  });
});

describe("inputs across releases (I8)", () => {
  const stepInputs = async (release: string) => {
    const targetVersion = release === "2024.2" ? "29.2.1" : "28.2.0";
    const { registrations } = await runMockProgram(
      stackConfig(3, { targetRelease: release, targetVersion }),
      withAdmin,
    );
    return new Map(
      registrations
        .filter((r) => r.type === "pulumi-nodejs:dynamic:Resource")
        .map((r) => [r.name, JSON.stringify(stripProvider(r.inputs))]),
    );
  };

  it("the same config yields identical step inputs; a new release changes every step's", async () => {
    const first = await stepInputs("2024.1");
    const again = await stepInputs("2024.1");
    const next = await stepInputs("2024.2");
    expect(first.size).toBeGreaterThan(20);
    expect([...again]).toEqual([...first]);
    for (const [name, inputs] of first) {
      expect(next.get(name), `${name} changes with the release`).not.toEqual(inputs);
      expect(inputs).toContain('"release":"2024.1"');
    }
  });
});

function stripProvider(inputs: Record<string, unknown> | undefined): Record<string, unknown> {
  const { __provider: _provider, ...rest } = inputs ?? {};
  return rest;
}

describe("the resource graph with prestageCommand (nodes fetch the release before their drain)", () => {
  // Quotes and dollars, as an operator writes them: the script carries them verbatim, bash reads them.
  const PRESTAGE = `apt-get install --download-only -y "glance-api=2:\${GLANCE_TARGET_VERSION}*" && echo 'fetched $GLANCE_RELEASE'`;
  const withPrestage = (config: Record<string, unknown>): Record<string, unknown> => ({
    ...config,
    nodeCommands: { ...((config.nodeCommands as object | undefined) ?? {}), prestageCommand: PRESTAGE },
  });
  const prestageCases: Array<{ title: string; config: Record<string, unknown>; nodes: string[] }> = [
    { title: "3 nodes, native", config: stackConfig(3), nodes: nodes(3) },
    {
      title: "3 nodes, exec: command (mock-level)",
      config: stackConfig(3, { exec: "command" }),
      nodes: nodes(3),
    },
    {
      title: "5 nodes, maxUnavailable 2",
      config: stackConfig(5, {
        loadBalancer: { type: "haproxy", runtimeApi: "127.0.0.1:9999", backend: "glance", maxUnavailable: 2 },
      }),
      nodes: nodes(5),
    },
    {
      title: "a provisioned NEW NODE (not pre-staged) and 2 existing nodes",
      config: provisionedStackConfig(2),
      nodes: nodes(2),
    },
  ];

  it("is absent when prestageCommand is not set", async () => {
    for (const config of [stackConfig(3), stackConfig(3, { exec: "command" }), provisionedStackConfig(2)]) {
      const { registrations } = await runMockProgram(config, withAdmin);
      expect(registrations.filter((r) => r.name.endsWith("/prestage"))).toEqual([]);
    }
  });

  it.each(prestageCases)("$title", async ({ config, nodes: prestaged }) => {
    const { registrations } = await runMockProgram(withPrestage(config), withAdmin);
    const graph = ancestors(registrations);
    const steps = registrations.filter((r) => STEP_TYPES.has(r.type));
    const prestages = steps.filter((r) => r.name.endsWith("/prestage"));
    expect(prestages.map((r) => r.name).sort()).toEqual(prestaged.map((n) => `${n}/prestage`).sort());
    for (const prestage of prestages) {
      const node = prestage.name.split("/")[0];
      // after the preflight and the backup, and nothing else: no step of any node, its own or another's
      expect(prestage.dependsOn).toEqual(["preflight", "db/backup"]);
      expect([...(graph.get(prestage.name) ?? [])].sort()).toEqual(["db/backup", "preflight"]);
      // before its own drain, which waits for it directly; never after it
      expect(registrations.find((r) => r.name === `${node}/drain`)?.dependsOn).toContain(prestage.name);
      expect(graph.get(`${node}/drain`)?.has(prestage.name)).toBe(true);
      expect(graph.get(prestage.name)?.has(`${node}/drain`)).toBe(false);
      // a child of the node's component, like the node's other steps
      expect(prestage.parent).toBe(node);
    }
    // nothing but drains waits for a prestage directly, and no prestage for another
    for (const r of steps) {
      for (const dep of r.dependsOn.filter((d) => d.endsWith("/prestage")))
        expect(r.name).toBe(dep.replace(/\/prestage$/, "/drain"));
    }
    // the provisioned NEW NODE has no drain to shorten, so no prestage either
    expect(steps.some((r) => r.name === "node-new/prestage")).toBe(false);
  });

  it("native: the shared script builder's script, the step timeout, and no secret outside the secret input", async () => {
    const raw = withPrestage(
      stackConfig(3, {
        database: {
          host: "db.internal",
          user: "glance",
          adminUser: "admin",
          passConnectionToGlanceManage: true,
        },
        nodeCommands: { scriptTimeoutSeconds: 900 },
      }),
    );
    const { registrations } = await runMockProgram(raw, withAdmin);
    const prestage = registrations.find((r) => r.name === "node-2/prestage");
    expect(prestage?.type).toBe("pulumi-nodejs:dynamic:Resource");
    const request = prestage?.inputs?.request as {
      kind: string;
      run: { script: string; timeoutSeconds: number };
    };
    expect(request.kind).toBe("script");
    expect(request.run.timeoutSeconds).toBe(900);
    expect(request.run.script).toContain(`\n( set -e; ${PRESTAGE} )\n`);
    expect(request.run.script).toContain("export GLANCE_NODE='node-2'\n");
    expect(prestage?.inputs?.kind).toBe("prestage");
    const { secrets: secretInput, __provider: _provider, ...rest } = prestage?.inputs ?? {};
    for (const secret of Object.values(SECRET_VALUES)) expect(JSON.stringify(rest)).not.toContain(secret);
    // the glance-manage connection is for the db steps only
    expect(JSON.stringify(secretInput ?? {})).not.toContain("OS_DATABASE__CONNECTION");
  });
});
