import type { Deployment } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { contractDone, startsToRepeat, upgradedNodes } from "../../driver/resume";

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
