import { describe, expect, it } from "vitest";
import { StackResource, toRunbookView } from "../../policy/resources";
import {
  checkRunbook,
  contractAfterEveryAdmission,
  declaredOrder,
  drainAfterPreviousWave,
  expandWithNewNodeCode,
  prestageBeforeOwnDrain,
  RUNBOOK_RULES,
  RunbookResource,
  upgradeAfterStopAndDrain,
  Violation,
} from "../../policy/rules";
import { provisionedStackConfig, runMockProgram, stackConfig } from "./support/mockProgram";

const withAdmin = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

/** The program's registrations under Pulumi mocks, as the rules see them. */
async function captured(config: Record<string, unknown>): Promise<RunbookResource[]> {
  const { registrations } = await runMockProgram(config, withAdmin);
  return registrations.map(({ name, type, dependsOn }) => ({ name, type, dependsOn: [...dependsOn] }));
}

/** A copy with `from` no longer depending on `to`; fails if the program never had that edge. */
function withoutEdge(resources: RunbookResource[], from: string, to: string): RunbookResource[] {
  let removed = 0;
  const result = resources.map((r) => {
    if (r.name !== from || !r.dependsOn.includes(to)) return r;
    removed++;
    return { ...r, dependsOn: r.dependsOn.filter((d) => d !== to) };
  });
  expect(removed, `the program has the edge ${from} -> ${to}`).toBe(1);
  return result;
}

/** A copy in which every resource matching `from` waits for `replacement` instead of `to`. */
function rewired(
  resources: RunbookResource[],
  from: RegExp,
  to: string,
  replacement: string,
): RunbookResource[] {
  let changed = 0;
  const result = resources.map((r) => {
    if (!from.test(r.name) || !r.dependsOn.includes(to)) return r;
    changed++;
    return { ...r, dependsOn: r.dependsOn.map((d) => (d === to ? replacement : d)) };
  });
  expect(changed, `some resource matching ${from} depends on ${to}`).toBeGreaterThan(0);
  return result;
}

/** `rule resource` per violation, in the order the rules report them. */
const offenders = (violations: Violation[]) => violations.map((v) => `${v.rule} ${v.resource ?? ""}`);

const PRESTAGED = { nodeCommands: { prestageCommand: "apt-get install --download-only -y glance-api" } };

const goodPrograms: Array<{ title: string; config: Record<string, unknown> }> = [
  { title: "3 nodes", config: stackConfig(3) },
  {
    title: "a NEW NODE that is not first in the list",
    config: stackConfig(3, { newNode: { existing: "node-3" } }),
  },
  {
    title: "maxUnavailable 2 with 5 nodes",
    config: stackConfig(5, {
      loadBalancer: { type: "haproxy", runtimeApi: "127.0.0.1:9999", backend: "glance", maxUnavailable: 2 },
    }),
  },
  { title: "the command executor", config: stackConfig(3, { exec: "command" }) },
  { title: "a provisioned NEW NODE on an ALB", config: provisionedStackConfig(2) },
  { title: "3 nodes with prestageCommand", config: stackConfig(3, PRESTAGED) },
  {
    title: "a provisioned NEW NODE with prestageCommand",
    config: { ...provisionedStackConfig(2), ...PRESTAGED },
  },
];

function only(violations: Violation[], rule: string): Violation[] {
  expect(
    violations.map((v) => v.rule),
    violations.map((v) => v.message).join("\n"),
  ).toEqual(violations.map(() => rule));
  expect(violations.length).toBeGreaterThan(0);
  return violations;
}

describe("the runbook policy rules", () => {
  it.each(goodPrograms)("accept the program for $title", async ({ config }) => {
    const resources = await captured(config);
    expect(resources.some((r) => r.name === "db/contract")).toBe(true);
    expect(checkRunbook(resources)).toEqual([]);
  });

  it("have distinct names and descriptions, and ignore a stack with no runbook in it", () => {
    // Five rules written for the runbook, and declared-order, derived from plan/stepKinds.ts.
    expect(new Set(RUNBOOK_RULES.map((r) => r.name)).size).toBe(6);
    for (const rule of RUNBOOK_RULES) expect(rule.description.length).toBeGreaterThan(20);
    expect(checkRunbook([{ name: "bucket", type: "aws:s3/bucket:Bucket", dependsOn: [] }])).toEqual([]);
  });

  describe("refuse a program in which", () => {
    it("contract no longer depends on node-3/admit", async () => {
      // The versions are read once node-2 is back, before the last wave (node-3) is.
      const broken = rewired(await captured(stackConfig(3)), /\/version$/, "node-3/admit", "node-2/admit");
      const [violation] = only(checkRunbook(broken), contractAfterEveryAdmission.name);
      expect(violation.resource).toBe("db/contract");
      expect(violation.message).toContain("db/contract does not depend on node-3/admit");
    });

    it("a node has no admit step at all", async () => {
      // What waited for node-3/admit now waits for its start (which carries the health gate).
      const broken = rewired(
        (await captured(stackConfig(3))).filter((r) => r.name !== "node-3/admit"),
        /./,
        "node-3/admit",
        "node-3/start",
      );
      const violations = contractAfterEveryAdmission.check(broken);
      expect(violations).toHaveLength(1);
      expect(violations[0].message).toContain("node-3 has no node-3/admit step");
    });

    it("node-3/drain does not depend on node-2/admit", async () => {
      const broken = withoutEdge(await captured(stackConfig(3)), "node-3/drain", "node-2/admit");
      const violations = checkRunbook(broken);
      // node-3's chain was contract's only path to the earlier admissions, so contract is unsafe too.
      expect(offenders(violations)).toEqual([
        `${contractAfterEveryAdmission.name} db/contract`,
        `${contractAfterEveryAdmission.name} db/contract`,
        `${drainAfterPreviousWave.name} node-3/drain`,
      ]);
      expect(violations[0].message).toContain("db/contract does not depend on node-1/admit");
      expect(violations[1].message).toContain("db/contract does not depend on node-2/admit");
      const violation = violations[2];
      expect(violation.message).toContain("node-3/drain depends on no node's admit");
      expect(violation.message).toContain("NEW NODE (node-1)");
    });

    it("a later wave's drain skips the previous wave (maxUnavailable 2: node-4/drain without node-2 and node-3's admits)", async () => {
      const config = stackConfig(5, {
        loadBalancer: { type: "haproxy", runtimeApi: "127.0.0.1:9999", backend: "glance", maxUnavailable: 2 },
      });
      let broken = withoutEdge(await captured(config), "node-4/drain", "node-2/admit");
      broken = withoutEdge(broken, "node-4/drain", "node-3/admit");
      const violations = only(checkRunbook(broken), drainAfterPreviousWave.name);
      expect(violations.map((v) => v.resource)).toEqual(["node-4/drain"]);
    });

    it("the first wave after a provisioned NEW NODE drains before the NEW NODE is admitted", async () => {
      const broken = withoutEdge(await captured(provisionedStackConfig(2)), "node-1/drain", "node-new/admit");
      const violations = checkRunbook(broken);
      // Nothing after node-1/drain waits for node-new any more: not node-2's drain, not contract.
      expect(offenders(violations)).toEqual([
        `${contractAfterEveryAdmission.name} db/contract`,
        `${drainAfterPreviousWave.name} node-1/drain`,
        `${drainAfterPreviousWave.name} node-2/drain`,
      ]);
      expect(violations[0].message).toContain("db/contract does not depend on node-new/admit");
      expect(violations[1].message).toContain("node-1/drain depends on no node's admit");
      expect(violations[2].message).toContain("node-2/drain does not depend on node-new/admit");
    });

    it("a second node leaves rotation before any admission", async () => {
      const broken = (await captured(stackConfig(3))).map((r) =>
        r.name === "node-2/drain" ? { ...r, dependsOn: ["db/backup"] } : r,
      );
      // node-1 is still the NEW NODE (its upgrade feeds db/expand), so node-2/drain is the offender,
      // and node-3/drain, which follows node-2 only, no longer waits for node-1 either; nor does contract.
      const all = checkRunbook(broken);
      expect(offenders(all)[0]).toBe(`${contractAfterEveryAdmission.name} db/contract`);
      expect(all[0].message).toContain("db/contract does not depend on node-1/admit");
      const violations = only(all.slice(1), drainAfterPreviousWave.name);
      expect(violations.map((v) => v.message)).toEqual([
        expect.stringContaining("node-2/drain depends on no node's admit"),
        expect.stringContaining("node-3/drain does not depend on node-1/admit"),
      ]);
    });

    it("a drain waits for an admission, but not for the NEW NODE's", async () => {
      // node-3 drains right after the backup, node-2 after node-3 is back: node-2 never waits for node-1.
      const broken = (await captured(stackConfig(3))).map((r) =>
        r.name === "node-3/drain"
          ? { ...r, dependsOn: ["db/backup"] }
          : r.name === "node-2/drain"
            ? { ...r, dependsOn: ["node-3/admit"] }
            : r,
      );
      const all = checkRunbook(broken);
      // The versions still wait for node-3/admit only, which no longer follows node-1 or node-2.
      expect(all.slice(0, 2).map((v) => v.message)).toEqual([
        expect.stringContaining("db/contract does not depend on node-1/admit"),
        expect.stringContaining("db/contract does not depend on node-2/admit"),
      ]);
      const violations = only(all.slice(2), drainAfterPreviousWave.name);
      expect(violations.map((v) => v.message)).toEqual([
        expect.stringContaining("node-2/drain does not depend on node-1/admit"),
        expect.stringContaining("node-3/drain depends on no node's admit"),
      ]);
    });

    it("node-2/upgrade does not depend on its stop and drain", async () => {
      const broken = withoutEdge(await captured(stackConfig(3)), "node-2/upgrade", "node-2/stop");
      const all = checkRunbook(broken);
      // node-2 can now be back in rotation before node-1, so node-3 may drain before node-1 is back,
      // and contract, which reaches node-1 only through node-2's chain, may run before it too.
      expect(offenders(all.filter((v) => v.rule !== upgradeAfterStopAndDrain.name))).toEqual([
        `${contractAfterEveryAdmission.name} db/contract`,
        `${drainAfterPreviousWave.name} node-3/drain`,
      ]);
      const violations = only(
        all.filter((v) => v.rule === upgradeAfterStopAndDrain.name),
        upgradeAfterStopAndDrain.name,
      );
      expect(violations.map((v) => v.message)).toEqual([
        "node-2/upgrade does not depend on node-2/drain: node-2 could be upgraded while it still serves traffic.",
        "node-2/upgrade does not depend on node-2/stop: node-2 could be upgraded while its old services still run.",
      ]);
      expect(violations.every((v) => v.resource === "node-2/upgrade")).toBe(true);
    });

    it("node-2/admit does not wait for its start (the order plan/stepKinds.ts declares)", async () => {
      // Still after its upgrade (so after its drain and the previous wave), but no longer after its start.
      const broken = rewired(
        await captured(stackConfig(3)),
        /^node-2\/admit$/,
        "node-2/start",
        "node-2/upgrade",
      );
      const [violation, ...rest] = only(checkRunbook(broken), declaredOrder.name);
      expect(rest).toEqual([]);
      expect(violation).toEqual({
        rule: declaredOrder.name,
        message: "node-2/admit does not depend on node-2/start: node-2's admit could run before its start.",
        resource: "node-2/admit",
      });
    });

    it("node-2/upgrade depends on its drain but skips the verified stop", async () => {
      const resources = await captured(stackConfig(3));
      const broken = resources.map((r) =>
        r.name === "node-2/upgrade" ? { ...r, dependsOn: ["node-2/drain"] } : r,
      );
      const [violation, ...rest] = only(checkRunbook(broken), upgradeAfterStopAndDrain.name);
      expect(rest).toEqual([]);
      expect(violation.message).toContain("node-2/upgrade does not depend on node-2/stop");
    });

    it("a provisioned NEW NODE is upgraded without waiting for its instance", async () => {
      const broken = withoutEdge(
        await captured(provisionedStackConfig(2)),
        "node-new/upgrade",
        "node-new/provision",
      );
      const violations = checkRunbook(broken).filter((v) => v.rule === upgradeAfterStopAndDrain.name);
      expect(violations.map((v) => v.message)).toEqual([
        "node-new/upgrade does not depend on node-new/provision: node-new could be upgraded before its instance exists.",
      ]);
    });

    it("a node's drain does not wait for its prestage (the fetch could race the install)", async () => {
      const broken = withoutEdge(
        await captured(stackConfig(3, PRESTAGED)),
        "node-2/drain",
        "node-2/prestage",
      );
      const [violation, ...rest] = only(checkRunbook(broken), prestageBeforeOwnDrain.name);
      expect(rest).toEqual([]);
      expect(violation.resource).toBe("node-2/drain");
      expect(violation.message).toBe(
        "node-2/drain does not depend on node-2/prestage: node-2 could leave rotation (and be upgraded) while its prestage still runs. Make node-2/drain depend on node-2/prestage.",
      );
    });

    it("a prestage runs after its node's drain (out of rotation), or before the backup", async () => {
      const resources = await captured(stackConfig(3, PRESTAGED));
      const late = resources.map((r) =>
        r.name === "node-3/prestage"
          ? { ...r, dependsOn: ["node-3/drain"] }
          : r.name === "node-3/drain"
            ? { ...r, dependsOn: r.dependsOn.filter((d) => d !== "node-3/prestage") }
            : r,
      );
      expect(only(checkRunbook(late), prestageBeforeOwnDrain.name).map((v) => v.message)).toEqual([
        "node-3/prestage depends on node-3/drain: it would run with node-3 out of rotation, which it exists to avoid. Make node-3/drain depend on node-3/prestage.",
      ]);
      const early = resources.map((r) => (r.name === "node-1/prestage" ? { ...r, dependsOn: [] } : r));
      expect(only(checkRunbook(early), prestageBeforeOwnDrain.name).map((v) => v.message)).toEqual([
        "node-1/prestage does not depend on preflight: it could run on node-1 before preflight finished.",
        "node-1/prestage does not depend on db/backup: it could run on node-1 before db/backup finished.",
      ]);
    });

    it("db/expand does not depend on the NEW NODE's upgrade", async () => {
      const broken = withoutEdge(await captured(stackConfig(3)), "db/allow-functions", "node-1/config-check");
      const [violation, ...rest] = only(checkRunbook(broken), expandWithNewNodeCode.name);
      expect(rest).toEqual([]);
      expect(violation.resource).toBe("db/expand");
      expect(violation.message).toContain("db/expand does not depend on node-1/upgrade");
    });

    it("db/expand does not depend on the NEW NODE's upgrade, with node-3 as the NEW NODE", async () => {
      const config = stackConfig(3, { newNode: { existing: "node-3" } });
      const broken = withoutEdge(await captured(config), "db/allow-functions", "node-3/config-check");
      const [violation] = only(checkRunbook(broken), expandWithNewNodeCode.name);
      expect(violation.message).toContain("db/expand does not depend on node-3/upgrade");
      expect(violation.message).toContain("NEW NODE (node-3)");
    });

    it("two nodes leave rotation first and neither feeds db/expand (no NEW NODE can be told)", async () => {
      let broken = withoutEdge(await captured(stackConfig(3)), "db/allow-functions", "node-1/config-check");
      broken = withoutEdge(broken, "node-2/drain", "node-1/admit");
      const violations = checkRunbook(broken);
      const drain = violations.find((v) => v.rule === drainAfterPreviousWave.name);
      expect(drain?.message).toContain(
        "node-1/drain, node-2/drain all leave rotation before any node is admitted back",
      );
      const expand = violations.find((v) => v.rule === expandWithNewNodeCode.name);
      expect(expand?.message).toContain(
        "cannot tell which node is the NEW NODE (candidates: node-1, node-2)",
      );
    });
  });
});

describe("the policy pack's view of the stack (PolicyResource -> rules)", () => {
  /** The captured registrations as CrossGuard hands them to a stack policy: linked objects with URNs. */
  function asStackResources(
    resources: RunbookResource[],
    asPropertyDependency: Set<string>,
  ): StackResource[] {
    const urn = (r: RunbookResource, i: number) =>
      `urn:pulumi:prod::glance-rolling-upgrade::${r.type}::${r.name}#${i}`;
    const stack: StackResource[] = resources.map((r, i) => ({
      name: r.name,
      type: r.type,
      urn: urn(r, i),
      dependencies: [],
      propertyDependencies: {},
    }));
    // The program's names are unique among steps; the last registration of a name is its step.
    const byName = new Map(stack.map((s) => [s.name, s]));
    resources.forEach((r, i) => {
      const deps = r.dependsOn.map((d) => byName.get(d) as StackResource);
      if (asPropertyDependency.has(r.name)) stack[i].propertyDependencies = { request: deps };
      else stack[i].dependencies = deps;
    });
    return stack;
  }

  it("keeps every ordering edge, from dependsOn and from property dependencies, and finds the URN to report", async () => {
    const resources = await captured(stackConfig(3));
    const view = toRunbookView(asStackResources(resources, new Set(["fleet/verify", "db/contract"])));
    const byName = new Map(view.resources.map((r) => [r.name, r.dependsOn]));
    expect(byName.get("db/contract")).toEqual(["fleet/verify"]);
    expect(byName.get("node-3/drain")).toEqual(["node-2/admit"]);
    expect(checkRunbook(view.resources)).toEqual([]);
    expect(view.urnOf("db/contract")).toMatch(/::db\/contract#\d+$/);
  });

  it("a broken program seen through CrossGuard is refused the same way", async () => {
    const broken = rewired(await captured(stackConfig(3)), /\/version$/, "node-3/admit", "node-2/admit");
    const view = toRunbookView(asStackResources(broken, new Set()));
    const [violation] = only(checkRunbook(view.resources), contractAfterEveryAdmission.name);
    expect(view.urnOf(violation.resource ?? "")).toContain("db/contract");
  });
});
