import { describe, expect, it } from "vitest";
import { backupTarget, buildPlan, Plan, renderRunbook, stepsToRun } from "../../plan/plan";
import { wavesAfterNewNode } from "../../plan/waves";
import { albProvisionedStack, albStack, haproxyStack, parsed } from "./fixtures";

/** `id <- after, after` per step, the plan's shape at a glance. */
function shape(plan: Plan): string[] {
  return plan.steps.map((s) => `${s.id} <- ${s.after.join(", ")}`);
}

describe("buildPlan: exact order", () => {
  it("2 nodes: NEW NODE, migrations, the other node, verification, contract", () => {
    const plan = buildPlan(parsed(haproxyStack(2)));
    expect(shape(plan)).toEqual([
      "preflight <- ",
      "db/backup <- preflight",
      "node-1/drain <- db/backup",
      "node-1/stop <- node-1/drain",
      "node-1/upgrade <- node-1/stop",
      "node-1/upgrade-check <- node-1/upgrade",
      "node-1/config-check <- node-1/upgrade-check",
      "db/allow-functions <- node-1/config-check",
      "db/expand <- db/allow-functions",
      "db/migrate <- db/expand",
      "db/verify <- db/migrate",
      "node-1/start <- db/verify",
      "node-1/admit <- node-1/start",
      "node-2/drain <- node-1/admit",
      "node-2/stop <- node-2/drain",
      "node-2/upgrade <- node-2/stop",
      "node-2/start <- node-2/upgrade",
      "node-2/admit <- node-2/start",
      "node-1/version <- node-2/admit",
      "node-2/version <- node-2/admit",
      "fleet/verify <- node-1/version, node-2/version",
      "db/contract <- fleet/verify",
      "db/restore-setting <- db/contract",
    ]);
    expect(plan.steps.map((s) => s.kind)).toEqual([
      "preflight",
      "backup",
      "drain",
      "stop",
      "upgrade",
      "upgrade-check",
      "config-check",
      "allow-functions",
      "expand",
      "migrate",
      "verify",
      "start",
      "admit",
      "drain",
      "stop",
      "upgrade",
      "start",
      "admit",
      "version",
      "version",
      "verify",
      "contract",
      "restore-setting",
    ]);
    expect(plan.waves).toEqual([
      { index: 0, nodes: ["node-1"] },
      { index: 1, nodes: ["node-2"] },
    ]);
  });

  it("3 nodes: one wave per node, each draining after the previous admit", () => {
    const plan = buildPlan(parsed(haproxyStack(3)));
    expect(shape(plan).slice(13)).toEqual([
      "node-2/drain <- node-1/admit",
      "node-2/stop <- node-2/drain",
      "node-2/upgrade <- node-2/stop",
      "node-2/start <- node-2/upgrade",
      "node-2/admit <- node-2/start",
      "node-3/drain <- node-2/admit",
      "node-3/stop <- node-3/drain",
      "node-3/upgrade <- node-3/stop",
      "node-3/start <- node-3/upgrade",
      "node-3/admit <- node-3/start",
      "node-1/version <- node-3/admit",
      "node-2/version <- node-3/admit",
      "node-3/version <- node-3/admit",
      "fleet/verify <- node-1/version, node-2/version, node-3/version",
      "db/contract <- fleet/verify",
      "db/restore-setting <- db/contract",
    ]);
    expect(plan.waves.map((w) => w.nodes)).toEqual([["node-1"], ["node-2"], ["node-3"]]);
    expect(
      plan.steps.filter((s) => s.node === "node-3").every((s) => s.wave === 2 || s.kind === "version"),
    ).toBe(true);
    expect(plan.steps.find((s) => s.id === "node-3/drain")?.wave).toBe(2);
    expect(plan.steps.find((s) => s.id === "db/expand")?.wave).toBeUndefined();
  });

  it("keeps the graph linear: version reports wait for the last wave, which comes after every other", () => {
    // Listing every node's gate on every version report cost N² edges (253,507 at 500 nodes).
    const edges = (nodes: number, maxUnavailable: number) =>
      buildPlan(parsed(haproxyStack(nodes, { loadBalancer: { maxUnavailable } }))).steps.reduce(
        (sum, step) => sum + step.after.length,
        0,
      );
    for (const nodes of [2, 10, 100, 500]) expect(edges(nodes, 1)).toBe(7 * nodes + 9);
    // Wider waves add the wave-to-wave edges (maxUnavailable² per wave), still linear in the nodes
    // (plus the NEW NODE's one edge per check before the schema steps).
    expect(edges(301, 3)).toBeLessThanOrEqual(11 * 301 + 1);
    const plan = buildPlan(parsed(haproxyStack(5)));
    expect(plan.steps.find((s) => s.id === "node-1/version")?.after).toEqual(["node-5/admit"]);
    const wide = buildPlan(parsed(haproxyStack(7, { loadBalancer: { maxUnavailable: 2 } })));
    expect(wide.steps.find((s) => s.id === "node-1/version")?.after).toEqual([
      "node-6/admit",
      "node-7/admit",
    ]);
  });

  it("a NEW NODE that is not first in the list goes first; the rest keep config order", () => {
    const plan = buildPlan(parsed(haproxyStack(3, { newNode: { existing: "node-2" } })));
    expect(plan.newNode).toEqual({ name: "node-2", provisioned: false });
    expect(plan.waves.map((w) => w.nodes)).toEqual([["node-2"], ["node-1"], ["node-3"]]);
    expect(shape(plan).slice(2, 13)).toEqual([
      "node-2/drain <- db/backup",
      "node-2/stop <- node-2/drain",
      "node-2/upgrade <- node-2/stop",
      "node-2/upgrade-check <- node-2/upgrade",
      "node-2/config-check <- node-2/upgrade-check",
      "db/allow-functions <- node-2/config-check",
      "db/expand <- db/allow-functions",
      "db/migrate <- db/expand",
      "db/verify <- db/migrate",
      "node-2/start <- db/verify",
      "node-2/admit <- node-2/start",
    ]);
    expect(plan.steps.find((s) => s.id === "node-1/drain")?.after).toEqual(["node-2/admit"]);
    expect(plan.steps.find((s) => s.id === "node-3/drain")?.after).toEqual(["node-1/admit"]);
    expect(plan.steps.filter((s) => s.kind === "version").map((s) => s.node)).toEqual([
      "node-2",
      "node-1",
      "node-3",
    ]);
    expect(plan.steps.find((s) => s.id === "db/expand")?.description).toContain("from node-2");
  });

  it("maxUnavailable 2 with 5 nodes: waves [new], [a, b], [c, d]", () => {
    const plan = buildPlan(parsed(haproxyStack(5, { loadBalancer: { maxUnavailable: 2 } })));
    expect(plan.waves).toEqual([
      { index: 0, nodes: ["node-1"] },
      { index: 1, nodes: ["node-2", "node-3"] },
      { index: 2, nodes: ["node-4", "node-5"] },
    ]);
    const after = (id: string): string[] | undefined => plan.steps.find((s) => s.id === id)?.after;
    expect(after("node-2/drain")).toEqual(["node-1/admit"]);
    expect(after("node-3/drain")).toEqual(["node-1/admit"]);
    expect(after("node-4/drain")).toEqual(["node-2/admit", "node-3/admit"]);
    expect(after("node-5/drain")).toEqual(["node-2/admit", "node-3/admit"]);
    expect(after("node-5/stop")).toEqual(["node-5/drain"]);
    expect(plan.steps.filter((s) => s.wave === 2).map((s) => s.node)).toEqual([
      ...Array<string>(5).fill("node-4"),
      ...Array<string>(5).fill("node-5"),
    ]);
    expect(plan.maxUnavailable).toBe(2);
  });

  it("a last wave smaller than maxUnavailable", () => {
    expect(wavesAfterNewNode(["a", "b", "c", "d"], "c", 2)).toEqual([["a", "b"], ["d"]]);
    expect(wavesAfterNewNode(["a", "b", "c", "d"], "a", 3)).toEqual([["b", "c", "d"]]);
    expect(wavesAfterNewNode(["a"], "a", 1)).toEqual([]);
  });

  it("provisioned NEW NODE: provision after backup, no drain or stop for it", () => {
    const plan = buildPlan(parsed(albProvisionedStack(2)));
    expect(plan.newNode).toEqual({ name: "glance-new", provisioned: true });
    expect(shape(plan).slice(0, 12)).toEqual([
      "preflight <- ",
      "db/backup <- preflight",
      "glance-new/provision <- db/backup",
      "glance-new/upgrade <- glance-new/provision",
      "glance-new/upgrade-check <- glance-new/upgrade",
      "glance-new/config-check <- glance-new/upgrade-check",
      "db/allow-functions <- glance-new/config-check",
      "db/expand <- db/allow-functions",
      "db/migrate <- db/expand",
      "db/verify <- db/migrate",
      "glance-new/start <- db/verify",
      "glance-new/admit <- glance-new/start",
    ]);
    expect(plan.steps.filter((s) => s.node === "glance-new").map((s) => s.kind)).toEqual([
      "provision",
      "upgrade",
      "upgrade-check",
      "config-check",
      "start",
      "admit",
      "version",
    ]);
    expect(plan.waves.map((w) => w.nodes)).toEqual([["glance-new"], ["node-1"], ["node-2"]]);
    expect(plan.steps.find((s) => s.id === "node-1/drain")?.after).toEqual(["glance-new/admit"]);
    expect(plan.steps.find((s) => s.id === "fleet/verify")?.after).toEqual([
      "glance-new/version",
      "node-1/version",
      "node-2/version",
    ]);
    expect(plan.backup).toBe("rds-snapshot:glance-db");
    expect(plan.loadBalancer).toContain("ALB target group arn:aws:elasticloadbalancing:");
  });
});

describe("buildPlan: structure for any fleet", () => {
  const configs = {
    "haproxy 2": () => parsed(haproxyStack(2)),
    "haproxy 3": () => parsed(haproxyStack(3)),
    "haproxy 5, maxUnavailable 2": () => parsed(haproxyStack(5, { loadBalancer: { maxUnavailable: 2 } })),
    "alb 50": () => parsed(albStack(50)),
    "alb 50, maxUnavailable 7": () => parsed(albStack(50, { loadBalancer: { maxUnavailable: 7 } })),
    "alb provisioned 1": () => parsed(albProvisionedStack(1)),
    "alb provisioned 50": () => parsed(albProvisionedStack(50)),
  };

  it.each(Object.entries(configs))(
    "%s: every `after` names an EARLIER step and ids are unique",
    (_, config) => {
      const plan = buildPlan(config());
      const seen = new Set<string>();
      for (const step of plan.steps) {
        expect(seen.has(step.id), `duplicate id ${step.id}`).toBe(false);
        for (const dependency of step.after) {
          expect(seen.has(dependency), `${step.id} waits for ${dependency}, which is not before it`).toBe(
            true,
          );
        }
        seen.add(step.id);
      }
      expect(plan.steps[0].after).toEqual([]);
      expect(plan.steps.filter((s) => s.after.length === 0)).toHaveLength(1);
    },
  );

  it.each(Object.entries(configs))(
    "%s: contract waits (transitively) for every node's admit",
    (_, config) => {
      const plan = buildPlan(config());
      const byId = new Map(plan.steps.map((s) => [s.id, s]));
      const ancestors = new Set<string>();
      const stack = ["db/contract"];
      while (stack.length > 0) {
        for (const dependency of byId.get(stack.pop() as string)?.after ?? []) {
          if (!ancestors.has(dependency)) {
            ancestors.add(dependency);
            stack.push(dependency);
          }
        }
      }
      const admits = plan.steps.filter((s) => s.kind === "admit").map((s) => s.id);
      expect(admits.length).toBe(plan.waves.flatMap((w) => w.nodes).length);
      for (const id of [...admits, "db/backup", "db/verify", "fleet/verify"])
        expect(ancestors.has(id), id).toBe(true);
    },
  );

  it("50 nodes: step count and every node once per kind", () => {
    const plan = buildPlan(parsed(albStack(50)));
    // 2 head + 3 NEW NODE down + its upgrade check + 4 db + 2 NEW NODE up (start with its gate, admit) + 49 x 5 + 50 versions + 3 tail
    expect(plan.steps).toHaveLength(2 + 3 + 2 + 4 + 2 + 49 * 5 + 50 + 3);
    expect(plan.waves).toHaveLength(50);
    const nodes = Array.from({ length: 50 }, (_, i) => `node-${i + 1}`);
    for (const kind of ["drain", "stop", "upgrade", "start", "admit", "version"] as const) {
      const ofKind = plan.steps.filter((s) => s.kind === kind).map((s) => s.node);
      expect(ofKind, kind).toHaveLength(50);
      expect([...ofKind].sort(), kind).toEqual([...nodes].sort());
    }
    for (const [scope, kind] of [
      ["preflight", "preflight"],
      ["db", "backup"],
      ["db", "expand"],
      ["db", "migrate"],
      ["db", "verify"],
      ["db", "contract"],
      ["fleet", "verify"],
    ] as const) {
      expect(
        plan.steps.filter((s) => s.scope === scope && s.kind === kind),
        `${scope}/${kind}`,
      ).toHaveLength(1);
    }
    expect(plan.steps.find((s) => s.id === "node-50/drain")?.after).toEqual(["node-49/admit"]);
  });

  it("50 nodes with a provisioned NEW NODE: one provision, no drain/stop for it", () => {
    const plan = buildPlan(parsed(albProvisionedStack(50)));
    expect(plan.steps).toHaveLength(2 + 2 + 2 + 4 + 2 + 50 * 5 + 51 + 3);
    expect(plan.steps.filter((s) => s.kind === "provision").map((s) => s.id)).toEqual([
      "glance-new/provision",
    ]);
    expect(
      plan.steps.filter((s) => s.node === "glance-new" && (s.kind === "drain" || s.kind === "stop")),
    ).toEqual([]);
    expect(plan.steps.filter((s) => s.kind === "drain")).toHaveLength(50);
  });
});

describe("backupTarget", () => {
  it("substitutes {release} in a mysqldump path", () => {
    const config = parsed(haproxyStack(2, { backup: { path: "/srv/{release}/glance-{release}.sql" } }));
    expect(backupTarget(config)).toBe("/srv/2024.1/glance-2024.1.sql");
  });

  it("names the RDS instance for a snapshot", () => {
    expect(backupTarget(parsed(albStack(2)))).toBe("rds-snapshot:glance-db");
  });
});

describe("renderRunbook", () => {
  const config = parsed(
    haproxyStack(3, {
      loadBalancer: { drainTimeoutSeconds: 420 },
      targetRelease: "2024.2",
      targetVersion: "29.0.1",
    }),
  );
  const plan = buildPlan(config);
  const runbook = renderRunbook(plan);

  it("shows release, NEW NODE, load balancer, backup, drain timeout and waves", () => {
    const lines = runbook.split("\n");
    expect(lines[0]).toBe("Glance rolling upgrade to 2024.2 (nodes must report 29.0.1)");
    expect(runbook).toContain("NEW NODE:        node-1 (existing)");
    expect(runbook).toContain("load balancer:   HAProxy unix:/run/haproxy/admin.sock backend glance_api");
    expect(runbook).toContain("backup:          /var/backups/glance-2024.2.sql");
    expect(runbook).toContain("drain timeout:   420 s; maxUnavailable 1; minHealthy 1");
    expect(runbook).toContain("executor:        native");
    expect(runbook).toContain("waves:           0: node-1 | 1: node-2 | 2: node-3");
  });

  it("lists every step id once, numbered, in plan order", () => {
    const listed = runbook
      .split("\n")
      .map((line) => /^ {2}\s*(\d+)\. (\S+) /.exec(line))
      .filter((match): match is RegExpExecArray => match !== null);
    expect(listed.map((m) => m[2])).toEqual(plan.steps.map((s) => s.id));
    expect(listed.map((m) => Number(m[1]))).toEqual(plan.steps.map((_, i) => i + 1));
    expect(runbook).toContain("node-3/drain");
    expect(runbook).toMatch(/node-3\/drain +take out of rotation; wait for in-flight requests \[wave 2\]/);
    expect(runbook).toMatch(/db\/expand +glance-manage db expand \(from node-1\)\n/);
  });

  it("with the load balancer's settings read: each drain and admit says what it may take, and why", () => {
    const times = {
      settings: "deregistration delay 30 s; ...; target type instance",
      drain: { upToSeconds: 30, text: "30 s (the deregistration delay: ...)" },
      admit: {
        upToSeconds: 22,
        text: "up to 22 s (2 passing checks x 5 s + 2 s check timeout + 10 s margin)",
      },
    };
    const text = renderRunbook(plan, times);
    expect(text).toContain("  lb settings:     deregistration delay 30 s; ...; target type instance\n");
    expect(text).toContain("  per node:        drain 30 s (the deregistration delay: ...)\n");
    expect(text).toContain("                   admit up to 22 s (2 passing checks x 5 s");
    for (const node of ["node-1", "node-2", "node-3"]) {
      expect(text).toMatch(new RegExp(`${node}/drain .*\\(expected: up to 30 s\\)\n`));
      expect(text).toMatch(new RegExp(`${node}/admit .*\\(expected: up to 22 s\\)\n`));
    }
    expect(text.match(/expected: up to/g)).toHaveLength(6);
    // Unread: said once, and no step claims a time.
    const unread = renderRunbook(plan, {
      unread: "TargetGroupNotFoundException; the preflight reads them again",
    });
    expect(unread).toContain("  expected times:  not read (TargetGroupNotFoundException;");
    expect(unread).not.toContain("(expected:");
    // Without a reading (HAProxy), the runbook an operator knows.
    expect(renderRunbook(plan, undefined)).toBe(runbook);
  });

  it("marks a provisioned NEW NODE", () => {
    const text = renderRunbook(buildPlan(parsed(albProvisionedStack(2))));
    expect(text).toContain("NEW NODE:        glance-new (provisioned)");
    expect(text).toContain("backup:          rds-snapshot:glance-db");
  });
});

describe("determinism", () => {
  it("the same config gives a deep-equal plan and the same runbook", () => {
    const a = buildPlan(parsed(albStack(7, { loadBalancer: { maxUnavailable: 3 } })));
    const b = buildPlan(parsed(albStack(7, { loadBalancer: { maxUnavailable: 3 } })));
    expect(a).toEqual(b);
    expect(renderRunbook(a)).toBe(renderRunbook(b));
  });

  it("a new release changes the runbook and the backup target, not the step ids", () => {
    const before = buildPlan(parsed(haproxyStack(3)));
    const after = buildPlan(parsed(haproxyStack(3, { targetRelease: "2024.2", targetVersion: "29.2.1" })));
    expect(renderRunbook(after)).not.toBe(renderRunbook(before));
    expect(renderRunbook(after)).toContain("upgrade to 2024.2");
    expect(after.backup).toBe("/var/backups/glance-2024.2.sql");
    expect(after.steps.map((s) => s.id)).toEqual(before.steps.map((s) => s.id));
    expect(after.steps.find((s) => s.id === "node-2/upgrade")?.description).toBe("install release 2024.2");
  });
});

describe("pauseAfter: a checkpoint that stops the chain until the release is approved", () => {
  const ids = (config: ReturnType<typeof parsed>) => stepsToRun(buildPlan(config)).map((s) => s.id);

  it("after the NEW NODE: the run ends with its admission; nothing of wave 1 runs", () => {
    const run = ids(parsed(haproxyStack(3, { pauseAfter: "newNode" })));
    expect(run.at(-1)).toBe("node-1/admit");
    expect(run.filter((id) => id.startsWith("node-2/"))).toEqual([]);
  });

  it("after the last wave: every node upgraded and admitted, db contract held for approval", () => {
    const run = ids(parsed(haproxyStack(3, { pauseAfter: 2 })));
    expect(run.at(-1)).toBe("node-3/admit");
    for (const node of ["node-1", "node-2", "node-3"]) expect(run).toContain(`${node}/admit`);
    expect(run).not.toContain("fleet/verify");
    expect(run).not.toContain("db/contract");
    expect(run).toContain("db/migrate");
  });

  it("once approved, the whole chain runs", () => {
    const run = ids(parsed(haproxyStack(3, { pauseAfter: 2, approvedRelease: "2024.1" })));
    expect(run).toContain("db/contract");
    expect(run.at(-1)).toBe("db/restore-setting");
  });

  it("a wave past the last is refused, naming the waves there are", () => {
    expect(() => parsed(haproxyStack(3, { pauseAfter: 3 }))).toThrow(
      /pauseAfter = 3: there are 2 waves after the NEW NODE; pause after "newNode" or a wave from 1 to 2 \(2: every node upgraded, before db contract\)/,
    );
  });
});

describe("prestage (nodeCommands.prestageCommand): each node fetches the release before its drain", () => {
  const PRESTAGE = 'apt-get install --download-only -y "glance-api=2:${GLANCE_TARGET_VERSION}*"';
  const withPrestage = (stack: ReturnType<typeof haproxyStack>) =>
    buildPlan(
      parsed({
        ...stack,
        raw: {
          ...stack.raw,
          nodeCommands: { ...(stack.raw.nodeCommands as object), prestageCommand: PRESTAGE },
        },
      }),
    );
  const step = (plan: Plan, id: string) => plan.steps.find((s) => s.id === id);

  it("off by default: no prestage step, the same plan and runbook as before", () => {
    const plan = buildPlan(parsed(haproxyStack(3)));
    expect(plan.steps.filter((s) => s.kind === "prestage")).toEqual([]);
    expect(step(plan, "node-1/drain")?.after).toEqual(["db/backup"]);
    expect(step(plan, "node-2/drain")?.after).toEqual(["node-1/admit"]);
    expect(renderRunbook(plan)).not.toContain("prestage");
  });

  it("2 nodes: every prestage after preflight and backup, each drain after its own node's prestage", () => {
    const plan = withPrestage(haproxyStack(2));
    expect(shape(plan).slice(0, 6)).toEqual([
      "preflight <- ",
      "db/backup <- preflight",
      "node-1/prestage <- preflight, db/backup",
      "node-2/prestage <- preflight, db/backup",
      "node-1/drain <- db/backup, node-1/prestage",
      "node-1/stop <- node-1/drain",
    ]);
    expect(step(plan, "node-2/drain")?.after).toEqual(["node-1/admit", "node-2/prestage"]);
    expect(step(plan, "node-1/prestage")).toMatchObject({ kind: "prestage", node: "node-1", wave: 0 });
    expect(step(plan, "node-2/prestage")).toMatchObject({ kind: "prestage", node: "node-2", wave: 1 });
    expect(step(plan, "node-2/prestage")?.description).toBe(
      "prestageCommand: fetch release 2024.1 while the node still serves; nothing installed",
    );
    // The rest of the chain is the plan without prestage, step for step.
    const without = buildPlan(parsed(haproxyStack(2)));
    expect(plan.steps.filter((s) => s.kind !== "prestage").map((s) => s.id)).toEqual(
      without.steps.map((s) => s.id),
    );
  });

  it.each([
    ["3 nodes", haproxyStack(3)],
    ["5 nodes, maxUnavailable 2", haproxyStack(5, { loadBalancer: { maxUnavailable: 2 } })],
    ["a NEW NODE that is not first", haproxyStack(3, { newNode: { existing: "node-2" } })],
    ["50 nodes", albStack(50)],
  ])("%s: one per node, in parallel, before its drain and never after it", (_, stack) => {
    const plan = withPrestage(stack);
    const prestages = plan.steps.filter((s) => s.kind === "prestage");
    const nodes = plan.waves.flatMap((w) => w.nodes);
    expect(prestages.map((s) => s.node)).toEqual(nodes);
    const index = new Map(plan.steps.map((s, i) => [s.id, i]));
    for (const prestage of prestages) {
      // waits for the preflight and the backup only: no other node's step, so all run at once
      expect(prestage.after).toEqual(["preflight", "db/backup"]);
      const drain = `${prestage.node}/drain`;
      expect(step(plan, drain)?.after).toContain(prestage.id);
      expect(index.get(prestage.id)).toBeLessThan(index.get(drain) as number);
      expect(prestage.wave).toBe(step(plan, drain)?.wave);
    }
    // nothing but the node's own drain waits for a prestage
    for (const s of plan.steps) {
      for (const dep of s.after.filter((d) => d.endsWith("/prestage")))
        expect(s.id, `${s.id} waits for ${dep}`).toBe(dep.replace(/\/prestage$/, "/drain"));
    }
  });

  it("a provisioned NEW NODE is not pre-staged (it serves nothing before its upgrade); the fleet is", () => {
    const stack = albProvisionedStack(2);
    const plan = withPrestage(stack);
    expect(plan.steps.filter((s) => s.kind === "prestage").map((s) => s.id)).toEqual([
      "node-1/prestage",
      "node-2/prestage",
    ]);
    expect(step(plan, "glance-new/provision")?.after).toEqual(["db/backup"]);
    expect(step(plan, "glance-new/upgrade")?.after).toEqual(["glance-new/provision"]);
    expect(step(plan, "node-1/drain")?.after).toEqual(["glance-new/admit", "node-1/prestage"]);
  });

  it("the runbook says so in its header and lists the steps", () => {
    const runbook = renderRunbook(withPrestage(haproxyStack(2)));
    expect(runbook).toContain(
      "  prestage:        each node runs prestageCommand before its drain, while it still serves",
    );
    expect(runbook).toMatch(/ {2}3\. node-1\/prestage +prestageCommand: fetch release 2024\.1 .* \[wave 0\]/);
    expect(runbook).toMatch(/ {2}4\. node-2\/prestage +prestageCommand: fetch release 2024\.1 .* \[wave 1\]/);
  });

  it("a node past an active checkpoint is not pre-staged until the release is approved", () => {
    const paused = (approvedRelease?: string) => {
      const stack = haproxyStack(3, {
        pauseAfter: "newNode",
        ...(approvedRelease ? { approvedRelease } : {}),
      });
      return stepsToRun(withPrestage(stack)).map((s) => s.id);
    };
    const run = paused();
    expect(run.filter((id) => id.endsWith("/prestage"))).toEqual(["node-1/prestage"]);
    expect(run.at(-1)).toBe("node-1/admit");
    expect(paused("2024.1").filter((id) => id.endsWith("/prestage"))).toEqual([
      "node-1/prestage",
      "node-2/prestage",
      "node-3/prestage",
    ]);
  });
});
