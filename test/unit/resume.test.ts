import type { Deployment } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { contractDone, passedChecks, startsToRepeat, upgradedNodes } from "../../driver/resume";
import { buildPlan, stepsToRun } from "../../plan/plan";
import { haproxyStack, parsed } from "./fixtures";

const RELEASE = "2024.1";

/** A state export holding the step resources that finished, each with its runbook name and release. */
function stateWith(steps: string[], release = RELEASE): Deployment {
  return {
    version: 3,
    deployment: {
      resources: steps.map((step) => ({
        urn: `urn:pulumi:prod::glance-rolling-upgrade::pulumi-nodejs:dynamic:Resource::${step}`,
        outputs: { step, release },
      })),
    },
  };
}
const urn = (step: string) =>
  `urn:pulumi:prod::glance-rolling-upgrade::pulumi-nodejs:dynamic:Resource::${step}`;

describe("startsToRepeat: what the driver replaces on resume", () => {
  const upToNode2Upgrade = [
    "preflight",
    "db/backup",
    "node-1/start",
    "node-1/admit",
    "node-1/bake",
    "node-2/drain",
    "node-2/stop",
  ];

  it("replaces nothing after a failed health gate: the gate failed the start, so no start is in the state", () => {
    expect(startsToRepeat(stateWith([...upToNode2Upgrade, "node-2/upgrade"]), RELEASE, false)).toEqual([]);
    expect(startsToRepeat(stateWith([...upToNode2Upgrade, "node-2/upgrade"]), RELEASE, true)).toEqual([]);
  });

  it("replaces the start and admission of a node whose bake did not pass", () => {
    const state = stateWith([...upToNode2Upgrade, "node-2/upgrade", "node-2/start", "node-2/admit"]);
    expect(startsToRepeat(state, RELEASE, true)).toEqual([urn("node-2/start"), urn("node-2/admit")]);
  });

  it("replaces nothing when every admitted node's bake passed, or when the stack does not bake", () => {
    const baked = stateWith(["node-1/start", "node-1/admit", "node-1/bake"]);
    expect(startsToRepeat(baked, RELEASE, true)).toEqual([]);
    const unbaked = stateWith(["node-1/start", "node-1/admit"]);
    expect(startsToRepeat(unbaked, RELEASE, false)).toEqual([]);
  });

  it("ignores steps recorded for another release", () => {
    const old = stateWith(["node-1/start", "node-1/admit"], "2023.2");
    expect(startsToRepeat(old, RELEASE, true)).toEqual([]);
  });
});

describe("contractDone and upgradedNodes", () => {
  it("read the release's finished steps", () => {
    const state = stateWith(["node-1/upgrade", "rollback/node-1/upgrade", "node-2/upgrade", "db/contract"]);
    expect(contractDone(state, RELEASE)).toBe(true);
    expect(contractDone(state, "2025.1")).toBe(false);
    expect(upgradedNodes(state, RELEASE)).toEqual(["node-1", "node-2"]);
  });
});

describe("passedChecks: a check a later build added, in a state that is past its place", () => {
  const plan = buildPlan(parsed(haproxyStack(3)));
  const before = [
    "preflight",
    "db/backup",
    "node-1/drain",
    "node-1/stop",
    "node-1/upgrade",
    "node-1/upgrade-check",
  ];

  it("passes node-1/config-check when the step after it finished without it (an earlier build's state)", () => {
    const state = stateWith([...before, "db/allow-functions", "db/expand", "db/migrate", "db/verify"]);
    expect(passedChecks(state, plan)).toEqual(["node-1/config-check"]);
    // The run then leaves it out, and db/allow-functions waits for what it waited for.
    const steps = stepsToRun(plan, passedChecks(state, plan));
    expect(steps.map((s) => s.id)).not.toContain("node-1/config-check");
    expect(steps.find((s) => s.id === "db/allow-functions")?.after).toEqual(["node-1/upgrade-check"]);
    expect(steps).toHaveLength(plan.steps.length - 1);
  });

  it("passes nothing before its place, once it ran, or for another release (the controls)", () => {
    // Halted before the schema steps (the upgrade check failed, or the config check itself): it runs.
    expect(passedChecks(stateWith(before), plan)).toEqual([]);
    expect(passedChecks(stateWith(before.slice(0, 5)), plan)).toEqual([]);
    // Written by this build: it is in the state, and stays registered (a no-op).
    const current = stateWith([...before, "node-1/config-check", "db/allow-functions"]);
    expect(passedChecks(current, plan)).toEqual([]);
    // A new release replays the whole chain: the old release's steps pass nothing.
    expect(passedChecks(stateWith([...before, "db/allow-functions"], "2023.2"), plan)).toEqual([]);
  });

  it("only kinds declared passedOnResume can be left out of a run", () => {
    expect(stepsToRun(plan, ["node-1/upgrade-check", "db/expand"])).toEqual(plan.steps);
  });
});
