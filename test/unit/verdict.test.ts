/**
 * Proves the zero-failure verdict (lab/load/verdict.ts) both ways: a clean load report passes with no
 * violation, and every rule fires, by name and alone, on a report that breaks exactly that rule (failed
 * requests, cut downloads, too few requests in all or of a kind, an abnormal HAProxy line while the load
 * ran, a drain that found no download of the load in flight). Also proves which drains `drainStarts`
 * takes from a timeline, and that `describeViolations` prints HAProxy's line for every failed request.
 */
import { describe, expect, it } from "vitest";
import type { TimelineEvent } from "../../steps/record";
import { FAILURE_TYPES, LoadReport, REQUEST_KINDS, RequestKind } from "../../lab/load/loadReport";
import { HaproxyLogLine, parseHaproxyLogLine } from "../../lab/load/haproxyLog";
import {
  DrainStart,
  describeViolations,
  drainStarts,
  loadSummary,
  Violation,
  ViolationRule,
  zeroFailureViolations,
  ZeroFailureExpectation,
} from "../../lab/load/verdict";

const PREFIX = "load-16339-ddf525";
/** The load's start, in local time as HAProxy logs it. */
const T0 = new Date(2026, 10, 26, 12, 59, 40, 0).getTime();
const DURATION_MS = 60_000;
const PER_KIND = 20;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A clean run: every kind made often enough, nothing failed, slow downloads on node-1 and node-2. */
function cleanReport(): LoadReport {
  const kind = () => ({ requests: PER_KIND, failures: 0 });
  return {
    startedAt: T0,
    stoppedAt: T0 + DURATION_MS - 500,
    durationMs: DURATION_MS,
    requestIdPrefix: PREFIX,
    requests: PER_KIND * REQUEST_KINDS.length,
    failures: 0,
    failureRecords: [],
    failureSamples: [],
    failuresByType: {
      "reset-before-answer": 0,
      timeout: 0,
      "http-5xx": 0,
      "http-other": 0,
      "cut-download": 0,
      "cut-body": 0,
      "import-failed": 0,
      "import-stuck": 0,
      "checksum-mismatch": 0,
    },
    cutDownloads: 0,
    requestsPerSecond: (PER_KIND * REQUEST_KINDS.length) / 59.5,
    byKind: {
      list: kind(),
      create: kind(),
      upload: kind(),
      download: kind(),
      "slow-download": kind(),
      delete: kind(),
      // A load without import workers makes no imports.
      "import-direct": { requests: 0, failures: 0 },
      "import-web": { requests: 0, failures: 0 },
    },
    maxDownloadsInFlight: 4,
    slowDownloads: [
      {
        requestId: `${PREFIX}-10`,
        server: "node-1",
        startedAt: T0 + 1_000,
        answeredAt: T0 + 1_050,
        endedAt: T0 + 9_000,
        ok: true,
      },
      {
        requestId: `${PREFIX}-11`,
        server: "node-2",
        startedAt: T0 + 20_000,
        answeredAt: T0 + 20_040,
        endedAt: T0 + 28_000,
        ok: true,
      },
      {
        requestId: `${PREFIX}-12`,
        server: "node-3",
        startedAt: T0 + 40_000,
        answeredAt: T0 + 40_030,
        endedAt: T0 + 48_000,
        ok: true,
      },
    ],
    timeline: Array.from({ length: 60 }, (_, second) => ({ second, requests: 2, failures: 0 })),
  };
}

/** A line in HAProxy's httplog format, accepted at `at` (local time), parsed back. */
function haproxyLine(
  at: number,
  opts: { server?: string; status?: number; termination?: string; requestId?: string } = {},
): HaproxyLogLine {
  const d = new Date(at);
  const p = (n: number, width = 2) => String(n).padStart(width, "0");
  const stamp =
    `${p(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  const raw =
    `127.0.0.1:42550 [${stamp}] fe_glance glance/${opts.server ?? "node-1"} 0/0/0/38/1385 ` +
    `${opts.status ?? 200} 8388837 - - ${opts.termination ?? "----"} 11/11/2/1/0 0/0 ` +
    `{${opts.requestId ?? `${PREFIX}-5787`}} "GET /v2/images/62c8828d-97d0-4508-956c-06e8d4166566/file HTTP/1.1"`;
  const line = parseHaproxyLogLine(raw);
  if (line === undefined) throw new Error(`the fixture line did not parse: ${raw}`);
  expect(line.acceptedAt).toBe(at);
  return line;
}

/** The expectation a clean run meets: normal HAProxy lines, and each drain found a download in flight. */
function cleanExpectation(): ZeroFailureExpectation {
  return {
    minRequests: 100,
    haproxyLines: [
      haproxyLine(T0 + 1_000, { requestId: `${PREFIX}-10` }),
      haproxyLine(T0 + 2_000, { status: 204, requestId: `${PREFIX}-20` }),
      haproxyLine(T0 + 3_000, { status: 404, requestId: `${PREFIX}-21` }),
    ],
    drains: [
      { server: "node-1", at: T0 + 5_000, sessionsAtStart: 2 },
      { server: "node-2", at: T0 + 25_000, sessionsAtStart: 1 },
      { server: "node-3", at: T0 + 45_000, sessionsAtStart: 3 },
    ],
  };
}

const rules = (violations: Violation[]): ViolationRule[] => violations.map((v) => v.rule);

describe("zeroFailureViolations: the positive control", () => {
  it("finds no violation in a clean report", () => {
    expect(zeroFailureViolations(cleanReport(), cleanExpectation())).toEqual([]);
  });

  it("finds none with the bare minimum either (no HAProxy lines, no drains)", () => {
    expect(zeroFailureViolations(cleanReport(), { minRequests: 1 })).toEqual([]);
  });

  it("accepts exactly the minimum in all and of every kind", () => {
    const report = cleanReport();
    for (const kind of REQUEST_KINDS) report.byKind[kind].requests = 3;
    report.requests = 3 * REQUEST_KINDS.length;
    expect(zeroFailureViolations(report, { ...cleanExpectation(), minRequests: report.requests })).toEqual(
      [],
    );
  });
});

describe('zeroFailureViolations: "failed requests"', () => {
  it("fires on one failed request, naming its type", () => {
    const report = cleanReport();
    report.failures = 1;
    report.failuresByType["http-5xx"] = 1;
    report.byKind.list.failures = 1;
    const violations = zeroFailureViolations(report, cleanExpectation());
    expect(violations).toEqual([{ rule: "failed requests", detail: "1 failed (http-5xx 1)" }]);
  });

  it("names every type that occurred, and only those", () => {
    const report = cleanReport();
    report.failures = 3;
    report.failuresByType["reset-before-answer"] = 2;
    report.failuresByType.timeout = 1;
    const violations = zeroFailureViolations(report, cleanExpectation());
    expect(violations).toEqual([
      { rule: "failed requests", detail: "3 failed (reset-before-answer 2, timeout 1)" },
    ]);
  });

  it.each(FAILURE_TYPES.filter((t) => t !== "cut-download"))("fires on a %s failure", (type) => {
    const report = cleanReport();
    report.failures = 1;
    report.failuresByType[type] = 1;
    expect(rules(zeroFailureViolations(report, cleanExpectation()))).toEqual(["failed requests"]);
  });
});

describe('zeroFailureViolations: "cut downloads"', () => {
  it("fires on the cut-download count alone", () => {
    const report = cleanReport();
    report.cutDownloads = 1;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([
      { rule: "cut downloads", detail: "1 downloads cut short" },
    ]);
  });

  it("fires next to the failure a cut download also is", () => {
    const report = cleanReport();
    report.failures = 2;
    report.failuresByType["cut-download"] = 2;
    report.cutDownloads = 2;
    report.byKind["slow-download"].failures = 2;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([
      { rule: "failed requests", detail: "2 failed (cut-download 2)" },
      { rule: "cut downloads", detail: "2 downloads cut short" },
    ]);
  });
});

describe('zeroFailureViolations: "too few requests"', () => {
  it("fires one short of the minimum", () => {
    const report = cleanReport();
    const violations = zeroFailureViolations(report, {
      ...cleanExpectation(),
      minRequests: report.requests + 1,
    });
    expect(violations).toEqual([
      {
        rule: "too few requests",
        detail: `${report.requests} requests, expected at least ${report.requests + 1}`,
      },
    ]);
  });

  it("fires on a load that made no request at all, with every kind short too", () => {
    const report = cleanReport();
    report.requests = 0;
    for (const kind of REQUEST_KINDS) report.byKind[kind].requests = 0;
    const violations = zeroFailureViolations(report, { minRequests: 1 });
    expect(rules(violations)).toEqual([
      "too few requests",
      ...REQUEST_KINDS.map((): ViolationRule => "too few requests of a kind"),
    ]);
  });
});

describe('zeroFailureViolations: "too few requests of a kind"', () => {
  it("fires on a load with no slow download, naming the kind", () => {
    const report = cleanReport();
    report.byKind["slow-download"].requests = 0;
    report.requests -= PER_KIND;
    report.slowDownloads = [];
    const violations = zeroFailureViolations(report, { ...cleanExpectation(), drains: [] });
    expect(violations).toEqual([
      {
        rule: "too few requests of a kind",
        detail: "0 slow-download requests, expected at least 3",
      },
    ]);
  });

  it.each(REQUEST_KINDS)("fires on a load that made no %s request", (kind: RequestKind) => {
    const report = cleanReport();
    report.byKind[kind].requests = 0;
    report.requests -= PER_KIND;
    const violations = zeroFailureViolations(report, cleanExpectation());
    expect(rules(violations)).toEqual(["too few requests of a kind"]);
    expect(violations[0].detail).toBe(`0 ${kind} requests, expected at least 3`);
  });

  it("wants imports of each kind only from a load that ran import workers", () => {
    const report = cleanReport();
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([]);
    report.importsEnabled = true;
    report.byKind["import-web"].requests = 3;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([
      { rule: "too few requests of a kind", detail: "0 import-direct requests, expected at least 3" },
    ]);
    report.byKind["import-direct"].requests = 3;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([]);
  });

  it("wants 3 of a kind by default: 2 fire, 3 do not", () => {
    const report = cleanReport();
    report.byKind.delete.requests = 2;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([
      { rule: "too few requests of a kind", detail: "2 delete requests, expected at least 3" },
    ]);
    report.byKind.delete.requests = 3;
    expect(zeroFailureViolations(report, cleanExpectation())).toEqual([]);
  });

  it("honours minPerKind", () => {
    const report = cleanReport();
    const violations = zeroFailureViolations(report, { ...cleanExpectation(), minPerKind: PER_KIND + 1 });
    expect(violations).toEqual(
      REQUEST_KINDS.map((kind) => ({
        rule: "too few requests of a kind",
        detail: `${PER_KIND} ${kind} requests, expected at least ${PER_KIND + 1}`,
      })),
    );
    expect(zeroFailureViolations(report, { ...cleanExpectation(), minPerKind: PER_KIND })).toEqual([]);
  });
});

describe('zeroFailureViolations: "abnormal HAProxy line"', () => {
  const withLines = (...lines: HaproxyLogLine[]): ZeroFailureExpectation => {
    const expectation = cleanExpectation();
    return { ...expectation, haproxyLines: [...(expectation.haproxyLines ?? []), ...lines] };
  };

  it.each([
    { what: "a 503 the server refused (SC--)", status: 503, termination: "SC--" },
    { what: "a 200 whose server died mid-body (SD--)", status: 200, termination: "SD--" },
    { what: "a 200 the client cut (CD--)", status: 200, termination: "CD--" },
    { what: "a 502 that closed normally", status: 502, termination: "----" },
  ])("fires on $what inside the load's window, quoting the line", ({ status, termination }) => {
    const line = haproxyLine(T0 + 30_000, { server: "node-2", status, termination });
    const violations = zeroFailureViolations(cleanReport(), withLines(line));
    expect(violations).toEqual([{ rule: "abnormal HAProxy line", detail: line.raw }]);
  });

  it("counts the window's ends, [startedAt, startedAt + durationMs], as inside", () => {
    const first = haproxyLine(T0, { status: 503, termination: "SC--" });
    const last = haproxyLine(T0 + DURATION_MS, { status: 503, termination: "SC--" });
    const violations = zeroFailureViolations(cleanReport(), withLines(first, last));
    expect(violations).toEqual([
      { rule: "abnormal HAProxy line", detail: first.raw },
      { rule: "abnormal HAProxy line", detail: last.raw },
    ]);
  });

  it.each([
    { where: "1 ms before the load started", at: T0 - 1 },
    { where: "a minute before the load started", at: T0 - 60_000 },
    { where: "1 ms after the load's window", at: T0 + DURATION_MS + 1 },
    { where: "an hour after the load's window", at: T0 + DURATION_MS + 3_600_000 },
  ])("ignores the same abnormal line $where", ({ at }) => {
    const line = haproxyLine(at, { status: 503, termination: "SC--" });
    expect(zeroFailureViolations(cleanReport(), withLines(line))).toEqual([]);
  });

  it("ignores a normal 200 (----) and a 4xx that closed normally", () => {
    const ok = haproxyLine(T0 + 30_000, { status: 200, termination: "----" });
    const notFound = haproxyLine(T0 + 30_001, { status: 404, termination: "----" });
    const conflict = haproxyLine(T0 + 30_002, { status: 409, termination: "----" });
    expect(zeroFailureViolations(cleanReport(), withLines(ok, notFound, conflict))).toEqual([]);
  });

  it("reports each abnormal line once, and only those", () => {
    const a = haproxyLine(T0 + 10_000, { status: 503, termination: "SC--" });
    const ok = haproxyLine(T0 + 10_001);
    const b = haproxyLine(T0 + 10_002, { status: 200, termination: "SD--" });
    const violations = zeroFailureViolations(cleanReport(), withLines(a, ok, b));
    expect(violations.map((v) => v.detail)).toEqual([a.raw, b.raw]);
    expect(new Set(rules(violations))).toEqual(new Set(["abnormal HAProxy line"]));
  });
});

describe('zeroFailureViolations: "drain without a download in flight"', () => {
  const withDrains = (...drains: DrainStart[]): ZeroFailureExpectation => ({
    ...cleanExpectation(),
    drains,
  });

  it("fires on a drain whose server had no slow download spanning its start", () => {
    // node-1's download ended at T0 + 9 s; the drain began at T0 + 15 s.
    const at = T0 + 15_000;
    const violations = zeroFailureViolations(
      cleanReport(),
      withDrains({ server: "node-1", at, sessionsAtStart: 2 }),
    );
    expect(violations).toEqual([
      {
        rule: "drain without a download in flight",
        detail: `the drain of node-1 at ${new Date(at).toISOString()} began with no download of this load in flight on it`,
      },
    ]);
  });

  it("fires on a drain that found 0 sessions although a download spanned its start", () => {
    const at = T0 + 5_000;
    const violations = zeroFailureViolations(
      cleanReport(),
      withDrains({ server: "node-1", at, sessionsAtStart: 0 }),
    );
    expect(violations).toEqual([
      {
        rule: "drain without a download in flight",
        detail: `the drain of node-1 at ${new Date(at).toISOString()} found 0 HAProxy sessions although ${PREFIX}-10 was in flight`,
      },
    ]);
  });

  it("fires on a drain of node-2 while only node-1 had a download in flight", () => {
    const violations = zeroFailureViolations(
      cleanReport(),
      withDrains({ server: "node-2", at: T0 + 5_000, sessionsAtStart: 1 }),
    );
    expect(rules(violations)).toEqual(["drain without a download in flight"]);
    expect(violations[0].detail).toContain("began with no download of this load in flight on it");
  });

  it("fires on a download that had not been answered yet when the drain began", () => {
    const report = cleanReport();
    report.slowDownloads[0].answeredAt = T0 + 5_001;
    const violations = zeroFailureViolations(
      report,
      withDrains({ server: "node-1", at: T0 + 5_000, sessionsAtStart: 1 }),
    );
    expect(rules(violations)).toEqual(["drain without a download in flight"]);
  });

  it("fires on a download that was never answered (no server, no answer time)", () => {
    const report = cleanReport();
    report.slowDownloads[0].answeredAt = undefined;
    const violations = zeroFailureViolations(
      report,
      withDrains({ server: "node-1", at: T0 + 5_000, sessionsAtStart: 1 }),
    );
    expect(rules(violations)).toEqual(["drain without a download in flight"]);
  });

  it("fires on a load without slow downloads at all", () => {
    const report = cleanReport();
    report.slowDownloads = [];
    const violations = zeroFailureViolations(report, cleanExpectation());
    expect(rules(violations)).toEqual([
      "drain without a download in flight",
      "drain without a download in flight",
      "drain without a download in flight",
    ]);
    expect(violations.map((v) => v.detail.split(" ")[3])).toEqual(["node-1", "node-2", "node-3"]);
  });

  it("reports only the drain that had nothing in flight, among good ones", () => {
    const bad: DrainStart = { server: "node-3", at: T0 + 30_000, sessionsAtStart: 1 };
    const violations = zeroFailureViolations(
      cleanReport(),
      withDrains(...(cleanExpectation().drains ?? []), bad),
    );
    expect(violations).toHaveLength(1);
    expect(violations[0].detail).toContain(`the drain of node-3 at ${new Date(bad.at).toISOString()}`);
  });

  it("accepts a download answered exactly when the drain began, or ending exactly then", () => {
    const answered = { server: "node-1", at: T0 + 1_050, sessionsAtStart: 1 };
    const ending = { server: "node-1", at: T0 + 9_000, sessionsAtStart: 1 };
    expect(zeroFailureViolations(cleanReport(), withDrains(answered, ending))).toEqual([]);
    const after = { server: "node-1", at: T0 + 9_001, sessionsAtStart: 1 };
    expect(rules(zeroFailureViolations(cleanReport(), withDrains(after)))).toEqual([
      "drain without a download in flight",
    ]);
  });
});

describe("drainStarts", () => {
  const event = (e: Omit<TimelineEvent, "release">): TimelineEvent => ({ release: "2026.2", ...e });
  const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
  const timeline: TimelineEvent[] = [
    event({ event: "start", step: "db/expand", kind: "db-expand", at: at(1) }),
    event({ event: "end", step: "db/expand", kind: "db-expand", at: at(2), seconds: 1 }),
    event({ event: "start", step: "node-1/drain", kind: "drain", node: "node-1", at: at(5) }),
    event({
      event: "end",
      step: "node-1/drain",
      kind: "drain",
      node: "node-1",
      at: at(8),
      seconds: 3,
      result: { drainSeconds: 3, alreadyOut: false, sessionsAtStart: 2 },
    }),
    event({ event: "start", step: "node-1/stop", kind: "stop", node: "node-1", at: at(9) }),
    event({ event: "end", step: "node-1/stop", kind: "stop", node: "node-1", at: at(10), seconds: 1 }),
    // A drain that failed: it has a start but no end.
    event({ event: "start", step: "node-2/drain", kind: "drain", node: "node-2", at: at(20) }),
    event({
      event: "fail",
      step: "node-2/drain",
      kind: "drain",
      node: "node-2",
      at: at(21),
      error: "HAProxy runtime API unreachable",
    }),
    // A drain of a server that was already out of rotation: nothing to wait for.
    event({ event: "start", step: "node-3/drain", kind: "drain", node: "node-3", at: at(30) }),
    event({
      event: "end",
      step: "node-3/drain",
      kind: "drain",
      node: "node-3",
      at: at(30),
      seconds: 0,
      result: { drainSeconds: 0, alreadyOut: true, sessionsAtStart: 0 },
    }),
    // An ALB drain: no session count.
    event({ event: "start", step: "node-4/drain", kind: "drain", node: "node-4", at: at(40) }),
    event({
      event: "end",
      step: "node-4/drain",
      kind: "drain",
      node: "node-4",
      at: at(45),
      seconds: 5,
      result: { drainSeconds: 5, alreadyOut: false },
    }),
    // A drain start without a node names no server.
    event({ event: "start", step: "fleet/drain", kind: "drain", at: at(50) }),
    event({ event: "end", step: "fleet/drain", kind: "drain", at: at(51), seconds: 1, result: {} }),
  ];

  it("returns each completed drain's server, start and sessions; skips failed and already-out drains", () => {
    expect(drainStarts(timeline)).toEqual([
      { server: "node-1", at: T0 + 5_000, sessionsAtStart: 2 },
      { server: "node-4", at: T0 + 40_000, sessionsAtStart: undefined },
    ]);
  });

  it("skips a rerun's drain of a server a cut-short drain had left in DRAIN: it took nothing out of rotation", () => {
    const resumed = [
      event({ event: "start", step: "node-2/drain", kind: "drain", node: "node-2", at: at(60) }),
      event({
        event: "end",
        step: "node-2/drain",
        kind: "drain",
        node: "node-2",
        at: at(61),
        seconds: 1,
        result: { drainSeconds: 1, alreadyOut: false, sessionsAtStart: 0, inRotationAtStart: false },
      }),
    ];
    expect(drainStarts(resumed)).toEqual([]);
    const fromRotation = resumed.map((e) =>
      e.event === "end" ? { ...e, result: { ...(e.result as object), inRotationAtStart: true } } : e,
    );
    expect(drainStarts(fromRotation)).toEqual([{ server: "node-2", at: T0 + 60_000, sessionsAtStart: 0 }]);
  });

  it("maps a node to its HAProxy server name", () => {
    expect(drainStarts(timeline, (node) => `glance-${node}`).map((d) => d.server)).toEqual([
      "glance-node-1",
      "glance-node-4",
    ]);
  });

  it("returns nothing for an empty timeline or one without drains", () => {
    expect(drainStarts([])).toEqual([]);
    expect(drainStarts(timeline.filter((e) => e.kind !== "drain"))).toEqual([]);
  });

  it("feeds the verdict: node-1's drain is checked against node-1's download", () => {
    expect(
      zeroFailureViolations(cleanReport(), { minRequests: 1, drains: drainStarts(timeline).slice(0, 1) }),
    ).toEqual([]);
  });

  // Over several runs' timelines (stack.timelines() in the fault tests) the same step name repeats:
  // a drain that failed in run 1 must not borrow run 2's end, nor one that finished be dropped.
  it("pairs each start with its own run's end over concatenated timelines", () => {
    const run1: TimelineEvent[] = [
      event({ event: "start", step: "node-1/drain", kind: "drain", node: "node-1", at: at(5) }),
      event({
        event: "end",
        step: "node-1/drain",
        kind: "drain",
        node: "node-1",
        at: at(8),
        result: { drainSeconds: 3, alreadyOut: false, sessionsAtStart: 2 },
      }),
      event({ event: "start", step: "node-2/drain", kind: "drain", node: "node-2", at: at(20) }),
      event({ event: "fail", step: "node-2/drain", kind: "drain", node: "node-2", at: at(21), error: "x" }),
    ];
    const run2: TimelineEvent[] = [
      event({ event: "start", step: "node-1/drain", kind: "drain", node: "node-1", at: at(40) }),
      event({
        event: "end",
        step: "node-1/drain",
        kind: "drain",
        node: "node-1",
        at: at(40),
        result: { drainSeconds: 0, alreadyOut: true, sessionsAtStart: 0 },
      }),
      event({ event: "start", step: "node-2/drain", kind: "drain", node: "node-2", at: at(45) }),
      event({
        event: "end",
        step: "node-2/drain",
        kind: "drain",
        node: "node-2",
        at: at(47),
        result: { drainSeconds: 2, alreadyOut: false, sessionsAtStart: 1 },
      }),
    ];
    expect(drainStarts([...run1, ...run2])).toEqual([
      { server: "node-1", at: T0 + 5_000, sessionsAtStart: 2 },
      { server: "node-2", at: T0 + 45_000, sessionsAtStart: 1 },
    ]);
  });
});

describe("describeViolations", () => {
  /** A report with two failed requests: one HAProxy logged, one it did not. */
  function failedReport(): LoadReport {
    const report = cleanReport();
    report.failures = 2;
    report.failuresByType["http-5xx"] = 1;
    report.failuresByType["reset-before-answer"] = 1;
    report.failureRecords = [
      {
        at: T0 + 12_000,
        requestId: `${PREFIX}-700`,
        kind: "list",
        type: "http-5xx",
        method: "GET",
        path: "/v2/images?limit=20",
        server: "node-2",
        detail: "HTTP 503 <html>",
      },
      {
        at: T0 + 13_000,
        requestId: `${PREFIX}-701`,
        kind: "list",
        type: "reset-before-answer",
        method: "GET",
        path: "/v2/images?limit=20",
        detail: "ECONNRESET (socket hang up) on client port 42700",
      },
    ];
    report.failureSamples = [
      `12.0s ${PREFIX}-700 GET /v2/images?limit=20 [node-2]: http-5xx: HTTP 503 <html>`,
      `13.0s ${PREFIX}-701 GET /v2/images?limit=20: reset-before-answer: ECONNRESET (socket hang up) on client port 42700`,
    ];
    return report;
  }

  it("prints each violation, then each failure with HAProxy's line for it or the fact there is none", () => {
    const report = failedReport();
    const logged = haproxyLine(T0 + 11_990, {
      server: "node-2",
      status: 503,
      termination: "SC--",
      requestId: `${PREFIX}-700`,
    });
    const other = haproxyLine(T0 + 11_991, { requestId: `${PREFIX}-699` });
    const lines = [other, logged];
    const violations = zeroFailureViolations(report, { ...cleanExpectation(), haproxyLines: lines });
    expect(describeViolations(report, violations, lines)).toEqual([
      "failed requests: 2 failed (reset-before-answer 1, http-5xx 1)",
      `abnormal HAProxy line: ${logged.raw}`,
      `failure: ${report.failureSamples[0]}`,
      `  HAProxy: ${logged.raw}`,
      `failure: ${report.failureSamples[1]}`,
      `  HAProxy: no line for ${PREFIX}-701`,
    ]);
  });

  it("prints every HAProxy line with the failed request's id", () => {
    const report = failedReport();
    report.failureRecords = report.failureRecords.slice(0, 1);
    report.failureSamples = report.failureSamples.slice(0, 1);
    const first = haproxyLine(T0 + 11_000, { status: 503, termination: "SC--", requestId: `${PREFIX}-700` });
    const second = haproxyLine(T0 + 11_500, { status: 503, termination: "SC--", requestId: `${PREFIX}-700` });
    expect(describeViolations(report, [], [first, second])).toEqual([
      `failure: ${report.failureSamples[0]}`,
      `  HAProxy: ${first.raw}`,
      `  HAProxy: ${second.raw}`,
    ]);
  });

  it("prints no HAProxy line at all when no log was read", () => {
    const report = failedReport();
    expect(describeViolations(report, [], undefined)).toEqual([
      `failure: ${report.failureSamples[0]}`,
      `failure: ${report.failureSamples[1]}`,
    ]);
  });

  it("prints nothing for a clean run", () => {
    const report = cleanReport();
    const expectation = cleanExpectation();
    expect(
      describeViolations(report, zeroFailureViolations(report, expectation), expectation.haproxyLines),
    ).toEqual([]);
  });
});

describe("loadSummary", () => {
  it("sums up a clean run on one line", () => {
    expect(loadSummary(cleanReport())).toBe(
      "120 requests in 60.0 s (2/s; list 20, create 20, upload 20, download 20, slow-download 20, delete 20), " +
        "0 failed, 0 cut downloads, 3 slow or held downloads",
    );
  });

  it("names the kinds and types that failed", () => {
    const report = cleanReport();
    report.failures = 2;
    report.byKind.list.failures = 1;
    report.byKind["slow-download"].failures = 1;
    report.failuresByType["http-5xx"] = 1;
    report.failuresByType["cut-download"] = 1;
    report.cutDownloads = 1;
    expect(loadSummary(report)).toBe(
      "120 requests in 60.0 s (2/s; list 20 (1 failed), create 20, upload 20, download 20, " +
        "slow-download 20 (1 failed), delete 20), 2 failed (http-5xx 1, cut-download 1), 1 cut downloads, " +
        "3 slow or held downloads",
    );
  });
});
