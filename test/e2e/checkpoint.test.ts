/**
 * A checkpoint: `pauseAfter: newNode` stops the chain with the NEW NODE admitted and every other node
 * untouched; the operator approves with the driver, and the next run finishes without repeating a step.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { labTrustSetting } from "../support/faultTools";
import { OLD_PREFLIGHT_NOTE } from "../../steps/db/trustRecord";
import { TestStack } from "../support/driverFixture";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

describe("pauseAfter: newNode, then approve", () => {
  let lab: LabState;
  let stack: TestStack;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = TestStack.unique(
      "e2e-pause",
      { ...labStackConfig(lab, { transport: "local" }), pauseAfter: "newNode" },
      LAB_SECRETS,
    );
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("pauses with the NEW NODE admitted and the rest untouched; approval and a second run complete it", async () => {
    const trustBefore = await labTrustSetting(lab);
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });

    const plan = await stack.driver("plan");
    expect(plan.stdout).toMatch(
      /node-1\/admit[^\n]*\n\s+--- PAUSE: the chain stops here until 2024\.1 is approved/,
    );

    const paused = await stack.driver("up");
    expect(paused.code, paused.stdout + paused.stderr).toBe(0);
    expect(paused.stdout).toContain("PAUSED after node-1/admit");
    // The setting is restored from this run's own preflight record, not an older state's fallback.
    expect(paused.stdout + paused.stderr).not.toContain(OLD_PREFLIGHT_NOTE);
    const firstSteps = paused.timeline.filter((e) => e.event === "end").map((e) => e.step);
    expect(firstSteps.at(-1)).toBe("node-1/admit");
    expect(firstSteps.filter((s) => /^node-[23]\//.test(s) || s === "db/contract")).toEqual([]);
    const releases = async () =>
      Promise.all(
        lab.nodes.map(async (n) => (await runGlanceNode(lab.dir, ["release", n.name])).stdout.trim()),
      );
    expect(await releases()).toEqual(["2024.1", "2023.2", "2023.2"]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);

    const approve = await stack.driver("approve");
    expect(approve.code, approve.stdout + approve.stderr).toBe(0);
    const finished = await stack.driver("up");
    expect(finished.code, finished.stdout + finished.stderr).toBe(0);
    const secondSteps = finished.timeline.filter((e) => e.event === "start").map((e) => e.step);
    for (const step of firstSteps) expect(secondSteps, `${step} must not run twice`).not.toContain(step);
    expect(secondSteps).toContain("db/contract");
    expect(await releases()).toEqual(["2024.1", "2024.1", "2024.1"]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);

    const report = await load.stop();
    expectZeroFailedRequests(report, {
      minRequests: 100,
      haproxyLog: lab,
      drains: [...drainStarts(paused.timeline), ...drainStarts(finished.timeline)],
    });
  });
});
