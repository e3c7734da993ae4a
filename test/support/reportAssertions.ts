/**
 * What a person checks on the report page, against the run records it was drawn from: a lane per
 * node and one for the database, a bar for every step each run started, each bar where its times
 * in timeline.jsonl put it (within 2 px), failures marked on their lane, no console error, nothing
 * fetched.
 */
import { expect } from "vitest";
import type { TimelineEvent } from "../../steps/record";
import type { PageView } from "./reportBrowser";

const TOLERANCE_PX = 2;

/** The lane a step id belongs on, read from the id alone. */
function laneOf(step: string): string {
  const node = /^(?:rollback\/)?(node-\d+)\//.exec(step)?.[1];
  if (node) return node;
  return step.startsWith("db/") ? "database" : "fleet";
}

export function expectReportMatchesTimelines(
  view: PageView,
  runs: readonly TimelineEvent[][],
  nodes: readonly string[],
): void {
  expect(view.consoleErrors).toEqual([]);
  expect(view.requests).toEqual([]);
  expect(view.lanes.map((l) => l.lane)).toEqual(["fleet", "database", ...nodes]);
  expect(view.axis).toHaveLength(runs.length);
  const scale = view.svg.width / view.svg.viewBoxWidth;
  const pxPerMs: number[] = [];
  let expectedBars = 0;
  runs.forEach((events, run) => {
    const times = events.map((e) => Date.parse(e.at));
    const runStart = Math.min(...times);
    const runEnd = Math.max(...times);
    const segment = view.axis[run];
    // The page's axis is this run's span, not something else.
    expect(Date.parse(segment.from)).toBe(runStart);
    expect(Date.parse(segment.to)).toBe(runEnd);
    pxPerMs.push(segment.width / (runEnd - runStart));
    const x = (at: string) =>
      view.svg.left +
      scale * (segment.x + ((Date.parse(at) - runStart) / (runEnd - runStart)) * segment.width);
    const steps = [...new Set(events.filter((e) => e.event === "start").map((e) => e.step))];
    expectedBars += steps.length;
    for (const step of steps) {
      const start = events.find((e) => e.step === step && e.event === "start") as TimelineEvent;
      const end = events.find((e) => e.step === step && (e.event === "end" || e.event === "fail"));
      const bar = view.bars.find((b) => b.run === run && b.step === step);
      expect(bar, `a bar for ${step} (run ${run})`).toBeDefined();
      if (!bar || !end) continue;
      expect(bar.status).toBe(end.event === "fail" ? "failed" : "done");
      expect(bar.lane).toBe(laneOf(step));
      expect(
        Math.abs(bar.left - x(start.at)),
        `${step}: left ${bar.left} vs ${x(start.at)}`,
      ).toBeLessThanOrEqual(TOLERANCE_PX);
      const width = x(end.at) - x(start.at);
      expect(Math.abs(bar.width - width), `${step}: width ${bar.width} vs ${width}`).toBeLessThanOrEqual(
        TOLERANCE_PX,
      );
      const lane = view.lanes.find((l) => l.lane === bar.lane);
      expect(bar.top).toBeGreaterThanOrEqual(lane?.top ?? Number.NaN);
      expect(bar.top + bar.height).toBeLessThanOrEqual((lane?.top ?? 0) + (lane?.height ?? 0));
    }
  });
  expect(view.bars).toHaveLength(expectedBars);
  // One scale for every run, and the runs fill the plot.
  for (const perMs of pxPerMs) expect(perMs).toBeCloseTo(pxPerMs[0], 6);
  const last = view.axis.at(-1);
  expect((last?.x ?? 0) + (last?.width ?? 0)).toBeCloseTo(view.svg.plotX + view.svg.plotWidth, 3);
  const failures = runs.flat().filter((e) => e.event === "fail");
  expect(view.failureMarks.map((m) => m.lane).sort()).toEqual(failures.map((e) => laneOf(e.step)).sort());
}
