/** The peers bench's side-by-side table and its RATIO lines, from the three peers' results. */
import { FailureType } from "../../lab/load/loadReport";

/** The peers bench's three, and bench/prestage.ts's two driver runs (measured the same way). */
export type PeerName =
  "ansible playbook" | "kolla-style" | "driver up" | "without prestage" | "with prestage";

export interface PeerResult {
  peer: PeerName;
  /** From the first command of the procedure to its end (process exit for the playbook and driver). */
  wallMs: number;
  /** Why the procedure did not complete or did not upgrade, if it did not. */
  problems: string[];
  /** Per node: milliseconds HAProxy had it out of rotation, and in how many stretches. */
  outOfRotationMs: Record<string, number>;
  outIntervals: Record<string, number>;
  /** Per node: how long the peer's own drain waited (its timings); absent when it has no drain. */
  drainWaitMs: Record<string, number>;
  /**
   * The time at least one of its steps ran: its wall time with no orchestration cost at all (no
   * start-up, no gap between steps). Only the driver records its steps' windows.
   */
  stepsBusyMs?: number;
  requests: number;
  failures: number;
  failuresByType: Record<FailureType, number>;
  cutDownloads: number;
  violations: number;
  /** When the procedure started (after the load's first 3 s). */
  loadAverageStart?: string;
  loadAverageEnd: string;
}

export const secs = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);

export function failuresByKind(byType: Record<string, number>): string {
  const parts = Object.entries(byType)
    .filter(([, n]) => n > 0)
    .map(([type, n]) => `${type} ${n}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

/** Rows of metrics, one column per peer, in the order given; `balancer` names who saw the rotation. */
export function peersTable(
  results: PeerResult[],
  nodes: string[],
  balancer = "HAProxy",
): { headers: string[]; rows: string[][] } {
  const row = (label: string, cell: (r: PeerResult) => string) => [label, ...results.map(cell)];
  return {
    headers: ["", ...results.map((r) => r.peer)],
    rows: [
      row("wall time", (r) => secs(r.wallMs)),
      row("steps alone (time a step ran)", (r) => secs(r.stepsBusyMs)),
      ...nodes.map((n) =>
        row(
          `${n} out of rotation (${balancer})`,
          (r) => `${secs(r.outOfRotationMs[n] ?? 0)} (${r.outIntervals[n] ?? 0}x)`,
        ),
      ),
      ...nodes.map((n) => row(`${n} drain wait (own timings)`, (r) => secs(r.drainWaitMs[n]))),
      row("requests", (r) => r.requests.toLocaleString("en-US")),
      row("failed requests", (r) => String(r.failures)),
      row("failures by kind", (r) => failuresByKind(r.failuresByType)),
      row("cut downloads", (r) => String(r.cutDownloads)),
      row("verdict violations", (r) => String(r.violations)),
      row("completed and upgraded", (r) => (r.problems.length === 0 ? "yes" : "NO")),
      row("load average at end", (r) => r.loadAverageEnd),
    ],
  };
}

export interface Ratio {
  line: string;
  met: boolean;
}

export function ratio(label: string, value: string, goal: string, met: boolean): Ratio {
  return { line: `RATIO ${label} = ${value} (goal ${goal}): ${met ? "PASS" : "MISS"}`, met };
}

export const fixed = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : "n/a");

/** One line per goal of the issue, printed whether the goal is met or not. */
export function ratioLines(
  ours: PeerResult,
  playbook: PeerResult,
  kolla: PeerResult,
  nodes: string[],
): Ratio[] {
  const lines = [
    ratio(
      "failed requests driver up / kolla-style",
      `${ours.failures} / ${kolla.failures}`,
      "0 where kolla-style > 0",
      ours.failures === 0 && kolla.failures > 0,
    ),
  ];
  const wall = ours.wallMs / playbook.wallMs;
  lines.push(ratio("wall time driver up / ansible playbook", fixed(wall), "<= 0.5", wall <= 0.5));
  for (const node of nodes) {
    const value = (ours.outOfRotationMs[node] ?? 0) / (playbook.outOfRotationMs[node] ?? 0);
    lines.push(
      ratio(
        `${node} out of rotation driver up / ansible playbook`,
        fixed(value),
        "<= 1",
        Number.isFinite(value) && value <= 1,
      ),
    );
  }
  return lines;
}

/**
 * Not a goal: what the wall-time goal leaves for orchestration to win. The driver's steps alone (the
 * same drains, stops, starts, health checks and db commands, with no start-up and no gap) over the
 * playbook's wall time; above 0.5, no orchestrator running these steps one node at a time meets it.
 */
export function wallTimeBound(ours: PeerResult, playbook: PeerResult): string | undefined {
  if (ours.stepsBusyMs === undefined) return undefined;
  const bound = ours.stepsBusyMs / playbook.wallMs;
  const verdict =
    bound > 0.5
      ? "above 0.5: no orchestration of these steps meets the wall-time goal"
      : `orchestration may cost up to ${fixed(0.5 - bound)} of the playbook's wall time`;
  return (
    `BOUND steps alone driver up / ansible playbook = ${fixed(bound)}, ${verdict} ` +
    `(the driver's own cost in this run: ${secs(ours.wallMs - ours.stepsBusyMs)})`
  );
}

/** A `BENCH FAILED` line for each run that did not complete or upgrade, and exit code 1 if any. */
export function failIfBroken(results: PeerResult[]): void {
  const broken = results.filter((r) => r.problems.length > 0);
  for (const r of broken) console.log(`BENCH FAILED: ${r.peer}: ${r.problems.join("; ")}`);
  if (broken.length > 0) process.exitCode = 1;
}
