/**
 * Properties of the runbook rules (policy/rules.ts, what the policy pack enforces) over generated
 * fleets (fast-check): 1 to 60 nodes (1 only with a NEW NODE the stack provisions), the NEW NODE
 * anywhere in the list or launched, waves of any size the config accepts, prestage and bake on or
 * off, a checkpoint after the NEW NODE or any wave, approved or not.
 * - Every plan the program builds passes every rule, whole and as a run registers it (up to an
 *   active checkpoint).
 * - Each rule has its negative control: a mutation of the same generated plan that breaks exactly
 *   what the rule is about, which the rule must reject.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Plan, PlanStep, stepsToRun } from "../../plan/plan";
import { dbStep, nodeStep } from "../../plan/stepIds";
import {
  checkRunbook,
  contractAfterEveryAdmission,
  declaredOrder,
  drainAfterPreviousWave,
  expandWithNewNodeCode,
  prestageBeforeOwnDrain,
  RUNBOOK_RULES,
  RunbookResource,
  RunbookRule,
  upgradeAfterStopAndDrain,
} from "../../policy/rules";
import { Fleet, fleets as generatedFleets, planOf } from "./support/fleets";

/** Runs per property; the report counts them (RULES_RUNS x properties). */
export const RULES_RUNS = 120;

const fleets = generatedFleets({ minNodes: 1, mayProvision: true });

/** The steps as the rules see the stack's resources: by runbook name, with their dependencies. */
function resourcesOf(steps: readonly PlanStep[]): RunbookResource[] {
  return steps.map((s) => ({ name: s.id, type: "pulumi-nodejs:dynamic:Resource", dependsOn: [...s.after] }));
}

/** The plan with one step's dependencies replaced. */
function withAfter(plan: Plan, id: string, after: (old: string[]) => string[]): Plan {
  expect(
    plan.steps.some((s) => s.id === id),
    `${id} in the plan`,
  ).toBe(true);
  return { ...plan, steps: plan.steps.map((s) => (s.id === id ? { ...s, after: after(s.after) } : s)) };
}

function violationsOf(rule: RunbookRule, plan: Plan): string[] {
  return rule.check(resourcesOf(plan.steps)).map((v) => v.message);
}

/** One of the fleet's drained nodes other than the NEW NODE (there is always one). */
function laterNode(plan: Plan, f: Fleet): string {
  const later = plan.waves.slice(1).flatMap((w) => w.nodes);
  return later[f.pick % later.length];
}

describe("the runbook rules, for any plan the program builds (fast-check)", () => {
  it("every rule passes the whole plan and the steps a run registers", () => {
    let checked = 0;
    fc.assert(
      fc.property(fleets, (f) => {
        const plan = planOf(f);
        expect(checkRunbook(resourcesOf(plan.steps))).toEqual([]);
        expect(checkRunbook(resourcesOf(stepsToRun(plan)))).toEqual([]);
        checked++;
      }),
      { numRuns: RULES_RUNS },
    );
    expect(checked).toBe(RULES_RUNS);
  });
});

/**
 * Each rule's negative control, as a property: for every generated plan, the mutation is rejected by
 * that rule (and the plan before it was not).
 */
const negativeControls: Array<{
  rule: RunbookRule;
  /** What the mutation does, in the test's name. */
  mutation: string;
  /** Restricts the fleets to those the mutation applies to. */
  fleetsFor?: (f: Fleet) => Fleet;
  mutate: (plan: Plan, f: Fleet) => Plan;
  /** A word the rule's message must contain. */
  says: RegExp;
}> = [
  {
    rule: contractAfterEveryAdmission,
    mutation: "db/contract waits for nothing",
    mutate: (plan) => withAfter(plan, dbStep("contract"), () => []),
    says: /could drop the old schema/,
  },
  {
    rule: drainAfterPreviousWave,
    mutation: "a later wave's drain waits only for the backup (and its prestage)",
    mutate: (plan, f) =>
      withAfter(plan, nodeStep(laterNode(plan, f), "drain"), (old) => [
        dbStep("backup"),
        ...old.filter((id) => id.endsWith("/prestage")),
      ]),
    says: /could leave rotation/,
  },
  {
    rule: upgradeAfterStopAndDrain,
    mutation: "a node's upgrade waits for nothing",
    mutate: (plan, f) => {
      const nodes = plan.waves.flatMap((w) => w.nodes);
      return withAfter(plan, nodeStep(nodes[f.pick % nodes.length], "upgrade"), () => []);
    },
    says: /could be upgraded/,
  },
  {
    rule: expandWithNewNodeCode,
    mutation: "db/expand waits only for the backup",
    mutate: (plan) => withAfter(plan, dbStep("expand"), () => [dbStep("backup")]),
    says: /before the NEW NODE .* has the new release's migrations/,
  },
  {
    rule: prestageBeforeOwnDrain,
    mutation: "a node's drain no longer waits for its prestage",
    fleetsFor: (f) => ({ ...f, prestage: true }),
    mutate: (plan, f) => {
      const node = laterNode(plan, f);
      return withAfter(plan, nodeStep(node, "drain"), (old) =>
        old.filter((id) => id !== nodeStep(node, "prestage")),
      );
    },
    says: /could leave rotation \(and be upgraded\) while its prestage still runs/,
  },
  {
    rule: prestageBeforeOwnDrain,
    mutation: "a node's prestage waits for nothing (not the preflight, not the backup)",
    fleetsFor: (f) => ({ ...f, prestage: true }),
    mutate: (plan, f) => withAfter(plan, nodeStep(laterNode(plan, f), "prestage"), () => []),
    says: /does not depend on preflight: .*\n.*does not depend on db\/backup/,
  },
  {
    rule: declaredOrder,
    mutation: "a node's admit waits only for its upgrade, not its start",
    mutate: (plan, f) => {
      const nodes = plan.waves.flatMap((w) => w.nodes);
      const node = nodes[f.pick % nodes.length];
      return withAfter(plan, nodeStep(node, "admit"), () => [nodeStep(node, "upgrade")]);
    },
    says: /admit could run before its start/,
  },
];

describe("each rule rejects a mutated plan (negative controls, fast-check)", () => {
  it("every rule has at least one negative control here", () => {
    expect(new Set(negativeControls.map((c) => c.rule.name))).toEqual(
      new Set(RUNBOOK_RULES.map((r) => r.name)),
    );
  });

  it.each(negativeControls)("$rule.name: $mutation", ({ rule, fleetsFor, mutate, says }) => {
    let rejected = 0;
    fc.assert(
      fc.property(fleetsFor ? fleets.map(fleetsFor) : fleets, (f) => {
        const plan = planOf(f);
        expect(violationsOf(rule, plan)).toEqual([]);
        const violations = violationsOf(rule, mutate(plan, f));
        expect(violations.length).toBeGreaterThan(0);
        expect(violations.join("\n")).toMatch(says);
        rejected++;
      }),
      { numRuns: RULES_RUNS },
    );
    expect(rejected).toBe(RULES_RUNS);
  });
});
