/**
 * The verdict on a load run: every way it shows that the fleet did not serve throughout. Pure, so the
 * negative controls can show it fail, and shared by the tests and the rehearsal.
 */
import * as path from "node:path";
import type { TimelineEvent } from "../../steps/record";
import { readAs } from "../../steps/results";
import type { LabState } from "../state";
import { ALL_REQUEST_KINDS, IMPORT_KINDS, LoadReport, REQUEST_KINDS } from "./loadReport";
import { HaproxyLogLine, isAbnormal } from "./haproxyLog";

export type ViolationRule =
  | "failed requests"
  | "cut downloads"
  | "too few requests"
  | "too few requests of a kind"
  | "abnormal HAProxy line"
  | "drain without a download in flight";

export interface Violation {
  rule: ViolationRule;
  detail: string;
}

/** A drain as the run recorded it: the node (its HAProxy server) and when the drain began. */
export interface DrainStart {
  server: string;
  at: number;
  /** HAProxy's sessions on the server when the drain began, from the step's result. */
  sessionsAtStart?: number;
}

export interface ZeroFailureExpectation {
  /** At least this many requests in all... */
  minRequests: number;
  /** ...and at least this many of every kind (list, create, upload, download, slow download, delete); default 3. */
  minPerKind?: number;
  /** HAProxy's log lines, for the abnormal-line check (only those accepted while the load ran count). */
  haproxyLines?: HaproxyLogLine[];
  /** Each must have found a download of this load in flight on its server, which HAProxy counted. */
  drains?: DrainStart[];
  label?: string;
}

/** Every way the load shows that the fleet did not serve throughout; an empty list means it did. */
export function zeroFailureViolations(report: LoadReport, expectation: ZeroFailureExpectation): Violation[] {
  const violations: Violation[] = [];
  const minPerKind = expectation.minPerKind ?? 3;
  if (report.failures > 0) {
    const byType = Object.entries(report.failuresByType)
      .filter(([, n]) => n > 0)
      .map(([type, n]) => `${type} ${n}`)
      .join(", ");
    violations.push({ rule: "failed requests", detail: `${report.failures} failed (${byType})` });
  }
  if (report.cutDownloads > 0)
    violations.push({ rule: "cut downloads", detail: `${report.cutDownloads} downloads cut short` });
  if (report.requests < expectation.minRequests) {
    violations.push({
      rule: "too few requests",
      detail: `${report.requests} requests, expected at least ${expectation.minRequests}`,
    });
  }
  for (const kind of report.importsEnabled ? ALL_REQUEST_KINDS : REQUEST_KINDS) {
    const made = report.byKind[kind].requests;
    if (made < minPerKind)
      violations.push({
        rule: "too few requests of a kind",
        detail: `${made} ${kind} requests, expected at least ${minPerKind}`,
      });
  }
  const windowEnd = report.startedAt + report.durationMs;
  for (const line of expectation.haproxyLines ?? []) {
    if (line.acceptedAt < report.startedAt || line.acceptedAt > windowEnd || !isAbnormal(line)) continue;
    violations.push({ rule: "abnormal HAProxy line", detail: line.raw });
  }
  for (const drain of expectation.drains ?? []) {
    const inFlight = report.slowDownloads.find(
      (d) =>
        d.server === drain.server &&
        d.answeredAt !== undefined &&
        d.answeredAt <= drain.at &&
        d.endedAt >= drain.at,
    );
    const counted = drain.sessionsAtStart === undefined || drain.sessionsAtStart > 0;
    if (inFlight === undefined || !counted) {
      violations.push({
        rule: "drain without a download in flight",
        detail:
          `the drain of ${drain.server} at ${new Date(drain.at).toISOString()} ` +
          (inFlight === undefined
            ? "began with no download of this load in flight on it"
            : `found ${drain.sessionsAtStart} HAProxy sessions although ${inFlight.requestId} was in flight`),
      });
    }
  }
  return violations;
}

/**
 * The drains that finished in one or more runs' timelines (their start, and the sessions they found),
 * for `drains`. Each start is paired with the next end or failure of the same step, so timelines of
 * several runs can be joined: a drain that failed in one run and finished in the next counts once.
 */
export function drainStarts(
  timeline: TimelineEvent[],
  serverOf: (node: string) => string = (n) => n,
): DrainStart[] {
  const drains: DrainStart[] = [];
  timeline.forEach((event, index) => {
    if (event.event !== "start" || event.kind !== "drain" || event.node === undefined) return;
    const outcome = timeline.slice(index + 1).find((e) => e.step === event.step && e.event !== "start");
    // A drain that failed (or was refused) proves nothing either way; one already out waited for nothing.
    if (outcome?.event !== "end") return;
    const result = readAs("drain", outcome.result);
    // A rerun's drain of a server a cut-short drain left in DRAIN took nothing out of rotation.
    if (result.alreadyOut === true || result.inRotationAtStart === false) return;
    drains.push({
      server: serverOf(event.node),
      at: Date.parse(event.at),
      sessionsAtStart: result.sessionsAtStart,
    });
  });
  return drains;
}

/** The lab's HAProxy log file. */
export function labHaproxyLog(lab: LabState): string {
  return path.join(lab.dir, "haproxy", "haproxy.log");
}

/** The lab ALB's request log (HAProxy's httplog format, the same request ids), when the lab has one. */
export function labAlbLog(lab: LabState): string | undefined {
  return lab.alb?.logPath;
}

/** The violations, each failed request followed by HAProxy's line for it (or the fact that there is none). */
export function describeViolations(
  report: LoadReport,
  violations: Violation[],
  haproxyLines: HaproxyLogLine[] | undefined,
): string[] {
  const lines = violations.map((v) => `${v.rule}: ${v.detail}`);
  for (const [i, failure] of report.failureRecords.entries()) {
    lines.push(`failure: ${report.failureSamples[i]}`);
    if (haproxyLines === undefined) continue;
    const logged = haproxyLines.filter((l) => l.requestId === failure.requestId);
    if (logged.length === 0) lines.push(`  HAProxy: no line for ${failure.requestId}`);
    for (const line of logged) lines.push(`  HAProxy: ${line.raw}`);
  }
  return lines;
}

/** One line: how many requests of each kind, how many failed and how, how many slow or held downloads. */
export function loadSummary(report: LoadReport): string {
  const kinds = Object.entries(report.byKind)
    .filter(([kind, counts]) => counts.requests > 0 || !(IMPORT_KINDS as readonly string[]).includes(kind))
    .map(
      ([kind, counts]) =>
        `${kind} ${counts.requests}${counts.failures > 0 ? ` (${counts.failures} failed)` : ""}`,
    )
    .join(", ");
  const types = Object.entries(report.failuresByType)
    .filter(([, n]) => n > 0)
    .map(([type, n]) => `${type} ${n}`)
    .join(", ");
  return (
    `${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s ` +
    `(${report.requestsPerSecond.toFixed(0)}/s; ${kinds}), ${report.failures} failed${types ? ` (${types})` : ""}, ` +
    `${report.cutDownloads} cut downloads, ${report.slowDownloads.length} slow or held downloads`
  );
}
