/**
 * Issue 34: a skip-level upgrade, SLURP to SLURP (2024.1 -> 2025.1, skipping 2024.2), on real Glance
 * under the lab's load: the NEW NODE's hop up to a checkpoint, a rollback before contract that returns
 * it to 2024.1, then the whole upgrade to its end. Every request served, by the one verdict.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { RunningLoad, startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import type { TimelineEvent } from "../../steps/record";
import { TestStack } from "../support/driverFixture";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

async function releases(lab: LabState): Promise<string[]> {
  return Promise.all(
    lab.nodes.map(async (n) => (await runGlanceNode(lab.dir, ["release", n.name])).stdout.trim()),
  );
}

const started = (timeline: TimelineEvent[]) => timeline.filter((e) => e.event === "start").map((e) => e.step);

describe("a skip-level upgrade, 2024.1 -> 2025.1 (SLURP to SLURP), rolled back before contract, then finished", () => {
  let lab: LabState;
  let stack: TestStack;
  let load: RunningLoad;

  beforeAll(async () => {
    lab = await freshLab(3, undefined, { fromRelease: "2024.1", toRelease: "2025.1" });
    stack = TestStack.unique(
      "e2e-slurp",
      { ...labStackConfig(lab, { transport: "local" }), pauseAfter: "newNode" },
      LAB_SECRETS,
    );
    load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  });
  afterAll(async () => {
    await load?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("upgrades the NEW NODE across the skipped release, rolls it back, then upgrades every node; 0 failed", async () => {
    const plan = await stack.driver("plan");
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    const paused = await stack.driver("up");
    expect(paused.code, paused.stdout + paused.stderr).toBe(0);
    expect(paused.stdout).toContain("PAUSED after node-1/admit");
    expect(await releases(lab)).toEqual(["2025.1", "2024.1", "2024.1"]);

    const rollback = await stack.driver("rollback");
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(started(rollback.timeline)).toEqual(
      ["drain", "stop", "upgrade", "start", "admit"].map((k) => `rollback/node-1/${k}`),
    );
    expect(await releases(lab)).toEqual(["2024.1", "2024.1", "2024.1"]);

    stack.rewrite(labStackConfig(lab, { transport: "local" })); // no checkpoint now
    const finished = await stack.driver("up");
    expect(finished.code, finished.stdout + finished.stderr).toBe(0);
    expect(started(finished.timeline)).toContain("db/contract");
    expect(await releases(lab)).toEqual(["2025.1", "2025.1", "2025.1"]);
    expect(dbCheck(lab)).toBe(0);

    expectZeroFailedRequests(await load.stop(), {
      minRequests: 100,
      haproxyLog: lab,
      drains: [
        ...drainStarts(paused.timeline),
        ...drainStarts(rollback.timeline),
        ...drainStarts(finished.timeline),
      ],
    });
  });
});
