/**
 * Where an orchestrator spends time between steps: for every step, the time from the moment its last
 * dependency finished to the moment it started. In the engine that is the provider round trip, the
 * state write and the scheduling; in the floor it is a promise resolution.
 */
import type { TimelineEvent } from "../../steps/record";
import type { FloorStep, FloorStepTimes } from "./floor";
import { median } from "./report";

export interface StepWindow {
  startMs: number;
  endMs: number;
}

export interface GapSummary {
  steps: number;
  medianMs: number;
  meanMs: number;
  maxMs: number;
  /** Sum of the gaps along the chain (steps with exactly one dependency or with several, alike). */
  totalMs: number;
  /** Median gap of the first and of the last quarter of the steps (by start time): growth shows here. */
  firstQuarterMs: number;
  lastQuarterMs: number;
}

export function windowsFromTimeline(events: TimelineEvent[]): Map<string, StepWindow> {
  const windows = new Map<string, StepWindow>();
  for (const event of events) {
    const at = Date.parse(event.at);
    const window = windows.get(event.step) ?? { startMs: Number.NaN, endMs: Number.NaN };
    if (event.event === "start") window.startMs = at;
    else window.endMs = at;
    windows.set(event.step, window);
  }
  return windows;
}

export function windowsFromFloor(times: FloorStepTimes[]): Map<string, StepWindow> {
  return new Map(times.map((t) => [t.step, { startMs: t.startMs, endMs: t.endMs }]));
}

export function gapsBetweenSteps(steps: FloorStep[], windows: Map<string, StepWindow>): GapSummary {
  const timed: Array<{ at: number; gap: number }> = [];
  for (const step of steps) {
    const own = windows.get(step.step);
    if (!own || step.after.length === 0) continue;
    const ends = step.after.map((id) => windows.get(id)?.endMs ?? Number.NaN);
    const ready = Math.max(...ends);
    if (Number.isFinite(ready) && Number.isFinite(own.startMs))
      timed.push({ at: own.startMs, gap: own.startMs - ready });
  }
  timed.sort((a, b) => a.at - b.at);
  const gaps = timed.map((t) => t.gap);
  const quarter = Math.max(1, Math.floor(gaps.length / 4));
  const total = gaps.reduce((a, b) => a + b, 0);
  return {
    steps: gaps.length,
    medianMs: median(gaps),
    meanMs: gaps.length ? total / gaps.length : Number.NaN,
    maxMs: gaps.length ? Math.max(...gaps) : Number.NaN,
    totalMs: total,
    firstQuarterMs: median(gaps.slice(0, quarter)),
    lastQuarterMs: median(gaps.slice(-quarter)),
  };
}

/**
 * How long at least one step was running: the union of the step windows. For a chain it is the wall
 * time an orchestrator with no cost of its own (no start-up, no gap between steps) would take.
 */
export function busyMs(windows: Iterable<StepWindow>): number {
  const spans = [...windows]
    .filter((w) => Number.isFinite(w.endMs - w.startMs))
    .sort((a, b) => a.startMs - b.startMs);
  let total = 0;
  let coveredTo = Number.NEGATIVE_INFINITY;
  for (const span of spans) {
    const from = Math.max(span.startMs, coveredTo);
    if (span.endMs > from) total += span.endMs - from;
    coveredTo = Math.max(coveredTo, span.endMs);
  }
  return total;
}

/** The sum of every step's own run time (what the work itself took, whoever ran it). */
export function workMs(windows: Map<string, StepWindow>): number {
  let total = 0;
  for (const w of windows.values()) if (Number.isFinite(w.endMs - w.startMs)) total += w.endMs - w.startMs;
  return total;
}
