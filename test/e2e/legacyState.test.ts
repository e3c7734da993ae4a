/**
 * Upgrading this program under a running upgrade (issue 30, item 3; issue 31). Each fixture folder
 * holds two states an older build wrote on a fleet of stand-in nodes: `checkpoint.json` stopped at
 * `pauseAfter: newNode`, `failed.json` after node-2's stop failed (each folder's README says how).
 * fixtures/legacy-state/ is from 854c578, the last commit before step identities;
 * fixtures/identity-state/ is from 29590a9, whose identities name the step kinds as it did. The
 * current build resumes each on a new stand-in fleet and runs only what had not finished.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { startStandinFleet, StandinFleet } from "../../bench/support/standins";
import { urnName } from "../../driver/state";
import { TestStack } from "../support/driverFixture";

const FIXTURES = path.join(__dirname, "fixtures");
const STEP_TYPES = ["pulumi-nodejs:dynamic:Resource"];

/** The steps a fixture's state holds as finished. */
function finishedIn(file: string): string[] {
  const state = JSON.parse(fs.readFileSync(file, "utf8")) as {
    deployment: { resources: Array<{ urn: string; type: string }> };
  };
  return state.deployment.resources.filter((r) => STEP_TYPES.includes(r.type)).map((r) => urnName(r.urn));
}

const BUILDS = [
  { folder: "legacy-state", prefix: "legacy", written: "before step identities (854c578)" },
  { folder: "identity-state", prefix: "identity", written: "with step identities (29590a9)" },
];

describe.each(BUILDS)("a state written $written resumes under this build", ({ folder, prefix }) => {
  let fleet: StandinFleet;
  let config: Record<string, unknown>;
  const stacks: TestStack[] = [];

  beforeAll(async () => {
    fleet = await startStandinFleet(3);
    config = labStackConfig(fleet.layout, { transport: "local" });
  });
  afterAll(async () => {
    for (const stack of stacks) stack.remove();
    await fleet?.stop();
  });

  /** A stack of the fixture's name (its URNs name it) holding the fixture's state. */
  function stackFrom(name: string, file: string, stackConfig: Record<string, unknown>): TestStack {
    const stack = new TestStack(name, stackConfig, LAB_SECRETS);
    stacks.push(stack);
    stack.importState(file);
    return stack;
  }

  it("at a checkpoint: approved, the rerun runs the rest and nothing the old build finished", async () => {
    const file = path.join(FIXTURES, folder, "checkpoint.json");
    const finished = finishedIn(file);
    expect(finished).toContain("node-1/admit");
    expect(finished).toContain("db/verify");
    const stack = stackFrom(`${prefix}-checkpoint`, file, {
      ...config,
      pauseAfter: "newNode",
      approvedRelease: config.targetRelease,
    });
    const run = await stack.driver("up");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const ran = run.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(ran.filter((step) => finished.includes(step))).toEqual([]);
    expect(ran[0]).toBe("node-2/drain");
    expect(ran).toContain("db/contract");
  });

  it("after a failure: with the cause fixed, the rerun starts at the failed step", async () => {
    const file = path.join(FIXTURES, folder, "failed.json");
    const finished = finishedIn(file);
    expect(finished).toContain("node-2/drain");
    expect(finished).not.toContain("node-2/stop");
    const stack = stackFrom(`${prefix}-failed`, file, config);
    const run = await stack.driver("up");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const ran = run.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(ran.filter((step) => finished.includes(step))).toEqual([]);
    expect(ran[0]).toBe("node-2/stop");
  });
});
