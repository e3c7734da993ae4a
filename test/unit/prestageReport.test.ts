/**
 * The prestage bench's pure parts (bench/prestage/report.ts): a node's steps, window and physical
 * floor read from a driver timeline, and the RATIO lines, which print a missed goal as MISS.
 */
import { describe, expect, it } from "vitest";
import { PeerResult } from "../../bench/peers/render";
import {
  inWindowLines,
  nodeSteps,
  PrestageRun,
  prestageRatios,
  prestageTable,
  stepSpans,
} from "../../bench/prestage/report";
import { FAILURE_TYPES, FailureType } from "../../lab/load/loadReport";
import type { TimelineEvent } from "../../steps/record";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");

/** A step from `from` to `to` seconds after T0, as its start and end events. */
function step(id: string, from: number, to: number): TimelineEvent[] {
  const [node, kind] = id.includes("/") ? id.split("/") : [undefined, id];
  const base = { step: id, kind, release: "2024.1", ...(node && node !== "db" ? { node } : {}) };
  return [
    { event: "start", ...base, at: new Date(T0 + from * 1000).toISOString() },
    {
      event: "end",
      ...base,
      at: new Date(T0 + to * 1000).toISOString(),
      seconds: Math.round((to - from) * 1000) / 1000,
    },
  ];
}

/** node-1 (the NEW NODE, with the database steps inside its window) and node-2, pre-staged or not. */
function timeline(prestage: boolean, install: number): TimelineEvent[] {
  const p = prestage ? 40 : 0;
  return [
    ...step("preflight", 0, 1),
    ...step("db/backup", 1, 2),
    ...(prestage ? [...step("node-1/prestage", 2, 40), ...step("node-2/prestage", 2, 42)] : []),
    ...step("node-1/drain", p + 2, p + 5),
    ...step("node-1/stop", p + 5, p + 7),
    ...step("node-1/upgrade", p + 7, p + 7 + install),
    ...step("db/expand", p + 7 + install, p + 8 + install),
    ...step("db/migrate", p + 8 + install, p + 9 + install),
    ...step("node-1/start", p + 9 + install, p + 12 + install),
    ...step("node-1/admit", p + 12 + install, p + 14 + install),
    ...step("node-2/drain", p + 14 + install, p + 17 + install),
    ...step("node-2/stop", p + 17 + install, p + 19 + install),
    ...step("node-2/upgrade", p + 19 + install, p + 19 + 2 * install),
    ...step("node-2/start", p + 19 + 2 * install, p + 22 + 2 * install),
    ...step("node-2/admit", p + 22 + 2 * install, p + 24 + 2 * install),
    ...step("db/contract", p + 24 + 2 * install, p + 26 + 2 * install),
  ];
}

function result(peer: PeerResult["peer"], out: number[]): PeerResult {
  return {
    peer,
    wallMs: 100_000,
    problems: [],
    outOfRotationMs: Object.fromEntries(out.map((ms, i) => [`node-${i + 1}`, ms])),
    outIntervals: Object.fromEntries(out.map((_, i) => [`node-${i + 1}`, 1])),
    drainWaitMs: {},
    requests: 1_234,
    failures: 0,
    failuresByType: Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as Record<FailureType, number>,
    cutDownloads: 0,
    violations: 0,
    loadAverageStart: "8.00 7.00 6.00",
    loadAverageEnd: "9.00 8.00 7.00",
  };
}

const NODES = ["node-1", "node-2"];

function run(prestage: boolean, install: number, out: number[]): PrestageRun {
  const events = timeline(prestage, install);
  return {
    result: result(prestage ? "with prestage" : "without prestage", out),
    steps: NODES.map((n) => nodeSteps(events, n)),
    summary: NODES.map((node, i) => ({
      node,
      prestaged: prestage,
      outOfRotationSeconds: out[i] / 1000 - 0.1,
      ...(prestage ? { prestageSeconds: 38 } : {}),
    })),
  };
}

describe("stepSpans", () => {
  it("keeps every step that ended, with its start, end and duration, and none that did not end", () => {
    const events = [...step("node-1/drain", 2, 5), { ...step("node-1/stop", 5, 7)[0] }];
    expect(stepSpans(events)).toEqual({
      "node-1/drain": { startMs: T0 + 2_000, endMs: T0 + 5_000, ms: 3_000 },
    });
  });
});

describe("nodeSteps", () => {
  it("reads the node's steps and its floor (stop + upgrade + start), and the database steps inside its window", () => {
    expect(nodeSteps(timeline(true, 0.1), "node-1")).toEqual({
      node: "node-1",
      prestageMs: 38_000,
      drainMs: 3_000,
      stopMs: 2_000,
      upgradeMs: 100,
      startMs: 3_000,
      admitMs: 2_000,
      inWindow: [
        { step: "db/expand", ms: 1_000 },
        { step: "db/migrate", ms: 1_000 },
      ],
      floorMs: 5_100,
    });
  });

  it("counts no other node's or later database step inside a node's window", () => {
    const node2 = nodeSteps(timeline(false, 30), "node-2");
    expect(node2.inWindow).toEqual([]);
    expect(node2.prestageMs).toBeUndefined();
    expect(node2.floorMs).toBe(35_000);
  });

  it("has no floor when a floor step did not end", () => {
    const events = timeline(false, 30).filter((e) => !(e.step === "node-2/start" && e.event === "end"));
    expect(nodeSteps(events, "node-2").floorMs).toBeUndefined();
  });
});

describe("prestageRatios", () => {
  it("passes a node whose window lost its install and stays within floor + drain + admit (+ db steps) + 1 s", () => {
    const lines = prestageRatios(run(false, 30, [42_000, 37_000]), run(true, 0.1, [12_500, 7_500]), NODES);
    expect(lines.map((l) => l.line)).toEqual([
      "RATIO node-1 out of rotation with prestage / without = 0.298 (goal <= 0.5; (out - install) / out of run (a) = 0.286): PASS",
      "RATIO node-2 out of rotation with prestage / without = 0.203 (goal <= 0.5; (out - install) / out of run (a) = 0.189): PASS",
      "RATIO node-1 out of rotation with prestage / floor = 2.451 (12.50 s; floor 5.10 s = stop 2.00 + upgrade 0.10 + start 3.00) (goal out <= floor + drain 3.00 + admit 2.00 + db/checks in window 2.00 + 1.00 = 13.10 s): PASS",
      "RATIO node-2 out of rotation with prestage / floor = 1.471 (7.50 s; floor 5.10 s = stop 2.00 + upgrade 0.10 + start 3.00) (goal out <= floor + drain 3.00 + admit 2.00 + 1.00 = 11.10 s): PASS",
    ]);
  });

  it("prints a missed goal as MISS, and does not pass a ratio it cannot compute", () => {
    const lines = prestageRatios(run(false, 30, [42_000, 0]), run(true, 0.1, [30_000, 11_200]), NODES);
    expect(lines.map((l) => l.met)).toEqual([false, false, false, false]);
    expect(lines[1].line).toContain("= n/a ");
    expect(lines[3].line).toMatch(/11\.20 s;.* = 11\.10 s\): MISS$/);
  });

  it("misses the floor goal when run (b) did not complete", () => {
    const broken = { ...run(true, 0.1, [5_000, 5_000]), steps: NODES.map((n) => nodeSteps([], n)) };
    const lines = prestageRatios(run(false, 30, [42_000, 37_000]), broken, NODES);
    expect(lines[2]).toEqual({
      line: "RATIO node-1 out of rotation with prestage / floor = n/a (goal a complete run (b)): MISS",
      met: false,
    });
  });
});

describe("prestageTable", () => {
  it("puts each run in a column, with the HAProxy and summary views, prestage and install per node", () => {
    const table = prestageTable([run(false, 30, [42_000, 37_000]), run(true, 0.1, [12_500, 7_500])], NODES);
    expect(table.headers).toEqual(["", "without prestage", "with prestage"]);
    const row = (label: string) => table.rows.find((r) => r[0] === label);
    expect(row("node-1 out of rotation (HAProxy)")).toEqual([
      "node-1 out of rotation (HAProxy)",
      "42.00 s (1x)",
      "12.50 s (1x)",
    ]);
    expect(row("node-2 out of rotation (driver summary)")?.slice(1)).toEqual([
      "36.90 s",
      "7.40 s, pre-staged",
    ]);
    expect(row("node-1 prestage (node-X/prestage)")?.slice(1)).toEqual(["-", "38.00 s"]);
    expect(row("node-2 install (node-X/upgrade)")?.slice(1)).toEqual(["30.00 s", "0.10 s"]);
    expect(row("node-1 drain / stop / start+health / admit")?.slice(1)).toEqual([
      "3.00 / 2.00 / 3.00 / 2.00 s",
      "3.00 / 2.00 / 3.00 / 2.00 s",
    ]);
    expect(row("load average at start")?.slice(1)).toEqual(["8.00 7.00 6.00", "8.00 7.00 6.00"]);
  });
});

describe("inWindowLines", () => {
  it("names the steps inside a node's window besides its own, for the nodes that had any", () => {
    expect(inWindowLines(run(true, 0.1, [12_500, 7_500]))).toEqual([
      "with prestage: node-1's window also held db/expand 1.00 s, db/migrate 1.00 s",
    ]);
  });
});
