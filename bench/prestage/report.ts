/**
 * bench/prestage.ts's pure parts: each node's step durations and window read from a driver run's
 * timeline, its physical floor, the side-by-side table and the RATIO lines. No lab, no I/O.
 */
import type { NodeSummary } from "../../driver/summary";
import { nodeStep, NodeStepKind, parseStepId } from "../../plan/stepIds";
import type { TimelineEvent } from "../../steps/record";
import { failuresByKind, fixed, PeerResult, Ratio, ratio, secs } from "../peers/render";

/**
 * Slack on top of a node's floor + drain + admit (+ the database steps inside its window) for the
 * time the chain spends between its steps: six step transitions at the engine's ~26-140 ms each
 * (bench/README.md, orchestration), and up to 100 ms at either end from HAProxy's polling.
 */
export const WINDOW_SLACK_MS = 1_000;

/**
 * The goal for a node's out-of-rotation ratio with / without prestage. Without it, a node's window
 * holds its install, 23-56 s on this machine (README "Measured figures"), next to ~10-25 s of drain,
 * stop, start, health and admit: taking the install out should at least halve it.
 */
export const WITH_OVER_WITHOUT_GOAL = 0.5;

/** One step as the timeline recorded it (epoch ms). */
export interface StepSpan {
  startMs: number;
  endMs: number;
  ms: number;
}

/** Every step that ended, by id, from its start and end events (a failed step has no span). */
export function stepSpans(timeline: TimelineEvent[]): Record<string, StepSpan> {
  const starts = new Map<string, number>();
  const spans: Record<string, StepSpan> = {};
  for (const event of timeline) {
    const at = Date.parse(event.at);
    if (event.event === "start") starts.set(event.step, at);
    else if (event.event === "end") {
      const startMs = starts.get(event.step) ?? at - (event.seconds ?? 0) * 1000;
      spans[event.step] = {
        startMs,
        endMs: at,
        ms: event.seconds !== undefined ? event.seconds * 1000 : at - startMs,
      };
    }
  }
  return spans;
}

/** One node's steps in one run, and what its time out of rotation physically needs. */
export interface NodeSteps {
  node: string;
  prestageMs?: number;
  drainMs?: number;
  stopMs?: number;
  /** `node-X/upgrade`: the install (`upgradeCommand`). */
  upgradeMs?: number;
  /** `node-X/start`: start, and wait until the health URL answers 200. */
  startMs?: number;
  admitMs?: number;
  /** Steps of the node's chain that ran inside its window besides those (the NEW NODE: upgrade-check, db expand/migrate/verify). */
  inWindow: Array<{ step: string; ms: number }>;
  /** stop + upgrade + start (with its health wait): the least a node can be out for its upgrade. */
  floorMs?: number;
}

const FLOOR_KINDS: NodeStepKind[] = ["stop", "upgrade", "start"];
const OWN_KINDS = new Set<string>(["prestage", "drain", "admit", "version", "bake", ...FLOOR_KINDS]);

export function nodeSteps(timeline: TimelineEvent[], node: string): NodeSteps {
  const spans = stepSpans(timeline);
  const ms = (kind: NodeStepKind) => spans[nodeStep(node, kind)]?.ms;
  const drain = spans[nodeStep(node, "drain")];
  const admit = spans[nodeStep(node, "admit")];
  const inWindow =
    drain === undefined || admit === undefined
      ? []
      : Object.entries(spans)
          .filter(([id, span]) => {
            const parsed = parseStepId(id);
            const mine =
              (parsed?.scope === "node" &&
                !parsed.rollback &&
                parsed.node === node &&
                !OWN_KINDS.has(parsed.kind)) ||
              (parsed?.scope === "db" && parsed.kind !== "backup");
            return mine && span.startMs >= drain.endMs && span.endMs <= admit.startMs;
          })
          .map(([step, span]) => ({ step, ms: span.ms }));
  const floorParts = FLOOR_KINDS.map(ms);
  return {
    node,
    prestageMs: ms("prestage"),
    drainMs: drain?.ms,
    stopMs: ms("stop"),
    upgradeMs: ms("upgrade"),
    startMs: ms("start"),
    admitMs: admit?.ms,
    inWindow,
    floorMs: floorParts.every((p) => p !== undefined)
      ? floorParts.reduce((a, b) => a + (b ?? 0), 0)
      : undefined,
  };
}

/** One driver run as bench/prestage.ts reports it: measurePeer's result plus the driver's own view. */
export interface PrestageRun {
  result: PeerResult;
  /** Per node, from the run's timeline. */
  steps: NodeSteps[];
  /** The driver's summary (`nodeSummaries` of the stack's `summary` output); empty if the run failed. */
  summary: NodeSummary[];
}

const short = (ms: number | undefined) => (ms === undefined ? "-" : (ms / 1000).toFixed(2));

/** Rows of metrics, one column per run (without prestage, with it). */
export function prestageTable(runs: PrestageRun[], nodes: string[]): { headers: string[]; rows: string[][] } {
  const row = (label: string, cell: (r: PrestageRun) => string) => [label, ...runs.map(cell)];
  const steps = (r: PrestageRun, node: string) => r.steps.find((s) => s.node === node);
  const summary = (r: PrestageRun, node: string) => r.summary.find((s) => s.node === node);
  const perNode = (label: string, cell: (r: PrestageRun, node: string) => string) =>
    nodes.map((n) => row(`${n} ${label}`, (r) => cell(r, n)));
  return {
    headers: ["", ...runs.map((r) => r.result.peer)],
    rows: [
      row("wall time (driver up)", (r) => secs(r.result.wallMs)),
      ...perNode(
        "out of rotation (HAProxy)",
        (r, n) => `${secs(r.result.outOfRotationMs[n] ?? 0)} (${r.result.outIntervals[n] ?? 0}x)`,
      ),
      ...perNode("out of rotation (driver summary)", (r, n) => {
        const s = summary(r, n);
        const seconds = s?.outOfRotationSeconds;
        return seconds === undefined ? "-" : `${secs(seconds * 1000)}${s?.prestaged ? ", pre-staged" : ""}`;
      }),
      ...perNode("prestage (node-X/prestage)", (r, n) => secs(steps(r, n)?.prestageMs)),
      ...perNode("install (node-X/upgrade)", (r, n) => secs(steps(r, n)?.upgradeMs)),
      ...perNode("drain / stop / start+health / admit", (r, n) => {
        const s = steps(r, n);
        return s === undefined
          ? "-"
          : `${[s.drainMs, s.stopMs, s.startMs, s.admitMs].map(short).join(" / ")} s`;
      }),
      row("requests", (r) => r.result.requests.toLocaleString("en-US")),
      row("failed requests", (r) => String(r.result.failures)),
      row("failures by kind", (r) => failuresByKind(r.result.failuresByType)),
      row("cut downloads", (r) => String(r.result.cutDownloads)),
      row("verdict violations", (r) => String(r.result.violations)),
      row("completed and upgraded", (r) => (r.result.problems.length === 0 ? "yes" : "NO")),
      row("load average at start", (r) => r.result.loadAverageStart ?? "-"),
      row("load average at end", (r) => r.result.loadAverageEnd),
    ],
  };
}

/**
 * Per node: out of rotation (HAProxy) with prestage / without, against WITH_OVER_WITHOUT_GOAL, with
 * the ratio run (a) itself predicts once its install is taken out; then with prestage against the
 * node's floor (run (b)'s stop + upgrade + start): out <= floor + drain + admit + the database steps
 * in its window + WINDOW_SLACK_MS.
 */
export function prestageRatios(without: PrestageRun, withPrestage: PrestageRun, nodes: string[]): Ratio[] {
  const lines: Ratio[] = [];
  for (const node of nodes) {
    const before = without.result.outOfRotationMs[node] ?? 0;
    const after = withPrestage.result.outOfRotationMs[node] ?? 0;
    const value = after / before;
    const install = without.steps.find((s) => s.node === node)?.upgradeMs;
    const predicted = install === undefined ? Number.NaN : (before - install) / before;
    lines.push(
      ratio(
        `${node} out of rotation with prestage / without`,
        fixed(value),
        `<= ${WITH_OVER_WITHOUT_GOAL}; (out - install) / out of run (a) = ${fixed(predicted)}`,
        Number.isFinite(value) && value <= WITH_OVER_WITHOUT_GOAL,
      ),
    );
  }
  for (const node of nodes) {
    const out = withPrestage.result.outOfRotationMs[node] ?? 0;
    const s = withPrestage.steps.find((n) => n.node === node);
    if (s?.floorMs === undefined || s.drainMs === undefined || s.admitMs === undefined) {
      lines.push(ratio(`${node} out of rotation with prestage / floor`, "n/a", "a complete run (b)", false));
      continue;
    }
    const inWindowMs = s.inWindow.reduce((sum, step) => sum + step.ms, 0);
    const allowed = s.floorMs + s.drainMs + s.admitMs + inWindowMs + WINDOW_SLACK_MS;
    const floor = `floor ${short(s.floorMs)} s = stop ${short(s.stopMs)} + upgrade ${short(s.upgradeMs)} + start ${short(s.startMs)}`;
    const extra = inWindowMs > 0 ? ` + db/checks in window ${short(inWindowMs)}` : "";
    lines.push(
      ratio(
        `${node} out of rotation with prestage / floor`,
        `${fixed(out / s.floorMs)} (${short(out)} s; ${floor})`,
        `out <= floor + drain ${short(s.drainMs)} + admit ${short(s.admitMs)}${extra} + ${short(WINDOW_SLACK_MS)} = ${short(allowed)} s`,
        out > 0 && out <= allowed,
      ),
    );
  }
  return lines;
}

/** Per node with steps inside its window besides its own (the NEW NODE's checks and db steps): what they were. */
export function inWindowLines(run: PrestageRun): string[] {
  return run.steps
    .filter((s) => s.inWindow.length > 0)
    .map(
      (s) =>
        `${run.result.peer}: ${s.node}'s window also held ${s.inWindow.map((w) => `${w.step} ${short(w.ms)} s`).join(", ")}`,
    );
}
