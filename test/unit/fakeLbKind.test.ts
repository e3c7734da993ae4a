/**
 * The load-balancer seam, end to end, with a kind no production module knows: a fake pool registered
 * from this test's own modules (support/fakeLbKind.ts for the plan, support/fakeLoadBalancer.ts for
 * the steps) is named in the stack config, parsed with its own schema, node key, checks and risks,
 * planned, wired into the mocked graph, checked by the policy pack's rules, run through the real
 * provider entry point and shown by the summary.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderSummary, Summary } from "../../driver/summary";
import { buildPlan, renderRunbook } from "../../plan/plan";
import { nodeStep } from "../../plan/stepIds";
import { checkRunbook } from "../../policy/rules";
import { StepInputs, stepProviderMethods } from "../../steps/execute";
import { configErrorOf, haproxyStack, merge, parsed, StackFixture } from "./fixtures";
import type { FakeLoadBalancer } from "./support/fakeLoadBalancer";
import { registerFakeLb } from "./support/fakeLbKind";
import { mockStepResults, Registration, runMockProgram, stackConfig } from "./support/mockProgram";

const NS = "glance-rolling-upgrade";
const FAKE_LB = { type: "fake", pool: "glance", importDrainTimeoutSeconds: 0 };

/** `haproxyStack(count)` with the fake pool instead of HAProxy. */
function fakeStack(count: number, overrides: Record<string, unknown> = {}): StackFixture {
  const base = haproxyStack(count);
  base.raw.loadBalancer = FAKE_LB;
  return { ...base, raw: merge(base.raw, overrides) };
}

describe("a third load-balancer kind, registered from a test module (no production edit)", () => {
  let fake: FakeLoadBalancer;
  let unregister: () => void;

  beforeEach(() => {
    ({ fake, unregister } = registerFakeLb(["node-1", "m2", "node-3"]));
  });
  afterEach(() => unregister());

  it("is parsed from the stack config with its own schema, node key, checks and risks", () => {
    const nodes = [
      { name: "node-1", address: "10.0.0.1" },
      { name: "node-2", address: "10.0.0.2", fakeMember: "m2" },
    ];
    const config = parsed(fakeStack(2, { nodes }));
    expect(config.loadBalancer).toMatchObject({ type: "fake", pool: "glance", minHealthy: 1 });
    expect(config.nodes.map((n) => n.fakeMember)).toEqual(["node-1", "m2"]);

    // Its schema: a key of another kind is unknown to it; its own value is checked.
    expect(configErrorOf(fakeStack(2, { loadBalancer: { backend: "glance_api" } })).problems).toEqual([
      `${NS}:loadBalancer.backend: unknown key: remove it or fix the spelling`,
    ]);
    expect(configErrorOf(fakeStack(2, { loadBalancer: { pool: "Glance" } })).problems).toEqual([
      `${NS}:loadBalancer.pool = "Glance": use the fake pool's name (lower-case letters)`,
    ]);
    // Its own check, and its own risk with its own acknowledge key.
    expect(configErrorOf(fakeStack(2, { loadBalancer: { pool: "forbidden" } })).problems).toEqual([
      `${NS}:loadBalancer.pool = "forbidden": the fake pool refuses this name`,
    ]);
    expect(configErrorOf(fakeStack(2, { loadBalancer: { pool: "shared" } })).problems).toEqual([
      `${NS}:loadBalancer.pool = "shared": another service drains it too; set ${NS}:acknowledge.fakePoolShared: true`,
    ]);
    expect(() =>
      parsed(fakeStack(2, { loadBalancer: { pool: "shared" }, acknowledge: { fakePoolShared: true } })),
    ).not.toThrow();
    // Another kind's node key is refused in the fake's words; the fake's key under HAProxy in HAProxy's.
    expect(
      configErrorOf(fakeStack(2, { nodes: [{ ...nodes[0], haproxyServer: "s1" }, nodes[1]] })).problems,
    ).toEqual([
      `${NS}:nodes[0].haproxyServer = "s1": loadBalancer.type is fake, a fake pool, which has no HAProxy servers, so it would be ignored: remove it`,
    ]);
    expect(configErrorOf(haproxyStack(2, { nodes })).problems).toEqual([
      `${NS}:nodes[1].fakeMember = "m2": loadBalancer.type is haproxy, which knows the node by its server name (haproxyServer, default the node name), so it would be ignored: remove it`,
    ]);
    // Its acknowledgement, given to a stack that does not need it, is refused like every other.
    expect(configErrorOf(haproxyStack(2, { acknowledge: { fakePoolShared: true } })).problems).toEqual([
      `${NS}:acknowledge.fakePoolShared = true: nothing in this config needs it, so it would silently accept the risk for a later edit; remove it`,
    ]);
    // Its node identity: two nodes may not be the same pool member.
    expect(
      configErrorOf(fakeStack(2, { nodes: [nodes[0], { ...nodes[1], fakeMember: "node-1" }] })).problems,
    ).toEqual([
      `${NS}:nodes[1]: duplicate fake member node-1 (already used by node-1); each node must be distinct`,
    ]);
    // A provisioned NEW NODE cannot join it (the kind has no way to).
    expect(
      configErrorOf(
        fakeStack(1, {
          newNode: {
            existing: undefined,
            provision: {
              name: "glance-new",
              ami: "ami-0123456789abcdef0",
              subnetId: "subnet-0123456789abcdef0",
              securityGroupIds: ["sg-0123456789abcdef0"],
              keyName: "ops-key",
            },
          },
        }),
      ).problems,
    ).toEqual([
      `${NS}:newNode.provision: a provisioned NEW NODE joins an ALB target group; with loadBalancer.type fake use newNode.existing`,
    ]);
  });

  it("is refused once unregistered, and named among the kinds while registered", () => {
    expect(configErrorOf(haproxyStack(2, { loadBalancer: { type: "nginx" } })).problems.join("\n")).toContain(
      "'alb' | 'haproxy' | 'fake'",
    );
    unregister();
    expect(configErrorOf(fakeStack(2)).problems.join("\n")).toContain(
      `${NS}:loadBalancer.type = "fake": Invalid discriminator value. Expected 'alb' | 'haproxy'`,
    );
    ({ fake, unregister } = registerFakeLb(["node-1", "m2", "node-3"]));
  });

  it("is planned: the runbook names the fake pool", () => {
    const plan = buildPlan(parsed(fakeStack(3)));
    expect(plan.loadBalancer).toBe("fake pool glance");
    expect(renderRunbook(plan)).toContain("  load balancer:   fake pool glance\n");
  });

  it("runs from the stack config through the mocked graph, the policy rules, the provider and the summary", async () => {
    const config = stackConfig(3, {
      loadBalancer: FAKE_LB,
      nodes: [
        { name: "node-1", address: "10.0.1.10", transport: "ssh" },
        { name: "node-2", address: "10.0.1.11", transport: "ssh", fakeMember: "m2" },
        { name: "node-3", address: "10.0.1.12", transport: "ssh" },
      ],
    });
    for (const node of ["node-1", "node-2", "node-3"])
      mockStepResults.set(nodeStep(node, "version"), { stdout: "28.2.0" });
    let registrations: Registration[];
    try {
      ({ registrations } = await runMockProgram(config, { dbPassword: "secret", dbAdminPassword: "secret" }));
    } finally {
      mockStepResults.clear();
    }
    const byName = new Map(registrations.map((r) => [r.name, r]));
    const inputsOf = (name: string) => byName.get(name)?.inputs as unknown as StepInputs;

    // The graph: each load-balancer step carries the fake's request, and its unit the fake member.
    expect(inputsOf("node-2/drain").request).toEqual({
      kind: "drain",
      lb: { type: "fake", pool: "glance", member: "m2" },
      minHealthy: 1,
      drainTimeoutSeconds: 300,
    });
    expect(inputsOf("node-2/admit").identity).toMatchObject({ unit: { node: "node-2", member: "m2" } });
    expect(inputsOf("preflight").request).toMatchObject({
      lb: { type: "fake", pool: "glance", expected: ["node-1", "m2", "node-3"] },
    });

    // The policy pack's rules accept the program.
    expect(
      checkRunbook(registrations.map((r) => ({ name: r.name, type: r.type, dependsOn: r.dependsOn }))),
    ).toEqual([]);

    // The provider runs every load-balancer step of the graph, in plan order, through the fake.
    const tmp = mkdtempSync(path.join(tmpdir(), "gru-fake-lb-"));
    process.env.GRU_PROGRESS_FILE = path.join(tmp, "progress.jsonl");
    const summary: Record<string, Summary[string]> = {};
    try {
      for (const step of buildPlan(parsed(fakeStack(3))).steps) {
        if (!["drain", "admit"].includes(step.kind) && step.id !== "fleet/verify") continue;
        const outs = (await stepProviderMethods.create(inputsOf(step.id))).outs as unknown as Summary[string];
        summary[step.id] = {
          startedAt: outs.startedAt,
          endedAt: outs.endedAt,
          seconds: outs.seconds,
          result: outs.result,
        };
      }
    } finally {
      delete process.env.GRU_PROGRESS_FILE;
      rmSync(tmp, { recursive: true, force: true });
    }
    expect(fake.calls).toEqual([
      "drain glance/node-1 minHealthy=1",
      "admit glance/node-1",
      "drain glance/m2 minHealthy=1",
      "admit glance/m2",
      "drain glance/node-3 minHealthy=1",
      "admit glance/node-3",
      "fleet glance",
    ]);
    expect(summary["fleet/verify"].result).toEqual({ members: ["node-1", "m2", "node-3"] });

    // The summary shows the fake's steps and their results like any kind's.
    const text = renderSummary(summary);
    expect(text).toMatch(/node-2\/drain +\d\d:\d\d:\d\d +\d+\.\d s +drainSeconds=0/);
    expect(text).toMatch(/node-2\/admit +\d\d:\d\d:\d\d +\d+\.\d s +admitSeconds=0/);
    expect(text).toContain("Nodes:");
    expect(text).toMatch(/ {2}node-2 +0\.0 s/);
  });
});
