/**
 * Properties of the ordered plan over generated fleets (fast-check): 2 to 60 nodes, the NEW NODE
 * anywhere in the list, waves of any size the config accepts, prestage and bake on or off, a
 * checkpoint after the NEW NODE or any wave, approved or not. The example-based tests in
 * plan.test.ts pin exact shapes; these say what holds for every plan.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Plan, PlanStep, stepsToRun } from "../../plan/plan";
import { dbStep, nodeStep } from "../../plan/stepIds";
import { Fleet, fleets as generatedFleets, planOf } from "./support/fleets";

const RUNS = 150;

const fleets = generatedFleets({ minNodes: 2, mayProvision: false });

/** Every step's transitive prerequisites. */
function before(plan: Plan): Map<string, Set<string>> {
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  const memo = new Map<string, Set<string>>();
  const visit = (step: PlanStep): Set<string> => {
    const known = memo.get(step.id);
    if (known) return known;
    const result = new Set<string>();
    for (const id of step.after) {
      result.add(id);
      for (const t of visit(byId.get(id) as PlanStep)) result.add(t);
    }
    memo.set(step.id, result);
    return result;
  };
  plan.steps.forEach(visit);
  return memo;
}

const holds = (property: (plan: Plan, f: Fleet, order: Map<string, Set<string>>) => void) => () =>
  fc.assert(
    fc.property(fleets, (f) => {
      const plan = planOf(f);
      property(plan, f, before(plan));
    }),
    { numRuns: RUNS },
  );

const precedes = (order: Map<string, Set<string>>, first: string, then: string) =>
  expect(order.get(then)?.has(first), `${first} before ${then}`).toBe(true);

/** I5 on one plan: the NEW NODE alone first, waves of at most maxUnavailable, each after the last. */
function checkWaves(plan: Plan, f: Fleet, order: Map<string, Set<string>>): void {
  expect(plan.waves[0].nodes).toEqual([f.newNode]);
  const gate = f.bake ? "bake" : "admit";
  plan.waves.forEach((wave, w) => {
    expect(wave.nodes.length).toBeLessThanOrEqual(w === 0 ? 1 : f.maxUnavailable);
    if (w === 0) return;
    for (const node of wave.nodes)
      for (const previous of plan.waves[w - 1].nodes)
        precedes(order, nodeStep(previous, gate), nodeStep(node, "drain"));
  });
  expect(plan.waves.flatMap((w) => w.nodes).sort()).toEqual(
    Array.from({ length: f.nodes }, (_, i) => `node-${i + 1}`).sort(),
  );
}

describe("the plan, for any fleet (fast-check)", () => {
  it(
    "lists every step once, each after steps listed earlier (so the list is a valid order)",
    holds((plan) => {
      const seen = new Set<string>();
      for (const step of plan.steps) {
        expect(seen.has(step.id)).toBe(false);
        for (const dependency of step.after)
          expect(seen.has(dependency), `${dependency} listed before ${step.id}`).toBe(true);
        seen.add(step.id);
      }
    }),
  );

  it(
    "I1: the backup before any drain and any schema step",
    holds((plan, _f, order) => {
      for (const step of plan.steps.filter((s) => s.kind === "drain" || s.id.startsWith("db/")))
        if (step.id !== dbStep("backup")) precedes(order, dbStep("backup"), step.id);
    }),
  );

  it(
    "I2 and I3: each node drained, stopped, upgraded, started, admitted in order; the schema steps with the NEW NODE upgraded and not yet started",
    holds((_plan, f, order) => {
      for (let i = 1; i <= f.nodes; i++) {
        const node = `node-${i}`;
        const chain = ["drain", "stop", "upgrade", "start", "admit"] as const;
        for (let k = 1; k < chain.length; k++)
          precedes(order, nodeStep(node, chain[k - 1]), nodeStep(node, chain[k]));
        if (f.prestage) precedes(order, nodeStep(node, "prestage"), nodeStep(node, "drain"));
      }
      precedes(order, nodeStep(f.newNode, "upgrade"), dbStep("expand"));
      precedes(order, dbStep("expand"), dbStep("migrate"));
      precedes(order, dbStep("migrate"), dbStep("verify"));
      precedes(order, dbStep("verify"), nodeStep(f.newNode, "start"));
    }),
  );

  it(
    "I5: waves of at most maxUnavailable, each draining only after the wave before is admitted (and baked)",
    holds(checkWaves),
  );

  it(
    "I6: contract after every node's admit, version report and the fleet check; the setting restored last",
    holds((plan, f, order) => {
      for (let i = 1; i <= f.nodes; i++) {
        precedes(order, nodeStep(`node-${i}`, "admit"), dbStep("contract"));
        precedes(order, nodeStep(`node-${i}`, "version"), dbStep("contract"));
      }
      precedes(order, "fleet/verify", dbStep("contract"));
      expect(plan.steps.at(-1)?.id).toBe(dbStep("restore-setting"));
    }),
  );

  it(
    "a checkpoint: the steps a run registers are closed under their prerequisites, stop at the checkpoint, and never include contract",
    holds((plan, f) => {
      const registered = stepsToRun(plan);
      const ids = new Set(registered.map((s) => s.id));
      for (const step of registered)
        for (const dependency of step.after) expect(ids.has(dependency)).toBe(true);
      if (plan.pause?.active) {
        expect(registered.at(-1)?.id).toBe(plan.pause.afterStep);
        expect(ids.has(dbStep("contract"))).toBe(false);
      } else {
        expect(registered).toHaveLength(plan.steps.length);
      }
      expect(plan.pause === undefined).toBe(f.pauseAfter === undefined);
    }),
  );
});

describe("the properties can fail (negative control)", () => {
  it("a plan whose second wave does not wait for the first breaks I5", () => {
    const f: Fleet = {
      nodes: 3,
      provisioned: false,
      newNodeAt: 0,
      waveSize: 0,
      prestage: false,
      bake: false,
      checkpoint: undefined,
      approved: false,
      pick: 0,
      newNode: "node-1",
      maxUnavailable: 1,
      pauseAfter: undefined,
    };
    const plan = planOf(f);
    expect(() => checkWaves(plan, f, before(plan))).not.toThrow();
    const broken: Plan = {
      ...plan,
      steps: plan.steps.map((s) => (s.id === "node-3/drain" ? { ...s, after: [] } : s)),
    };
    expect(() => checkWaves(broken, f, before(broken))).toThrow(/node-2\/admit before node-3\/drain/);
  });
});
