/**
 * The report page's model and renderer (driver/report/): pure, from run records. What the browser
 * test (test/e2e/rehearsal.test.ts, test/e2e/faults.test.ts) checks on a real run's page, here on
 * records built by hand: lanes, bars, the axis, failures, checkpoints, capacity, floor, joining runs.
 */
import { describe, expect, it } from "vitest";
import { recordsOf, type StepEvent } from "../../steps/progress";
import {
  axisOf,
  buildReport,
  DB_LANE,
  FLEET_LANE,
  latestUpgrade,
  PLOT_WIDTH,
  PLOT_X,
  RUN_GAP,
  RunInput,
  xAt,
} from "../../driver/report/model";
import { escapeHtml, renderReportPage } from "../../driver/report/page";
import { commandOfRun } from "../../driver/report/records";
import { parseArgs } from "../../driver/cli";

/** What the preflight found: the fleet, on release A. */
const PREFLIGHT = { versionsBefore: { "node-1": "2023.2", "node-2": "2023.2", "node-3": "2023.2" } };
const T0 = Date.parse("2026-12-06T10:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** Events for steps run back to back: [step, seconds it took, "fail"?]. */
function events(
  startSecond: number,
  steps: Array<[string, number, "fail"?]>,
  release = "2024.1",
): StepEvent[] {
  let t = startSecond;
  return steps.flatMap(([step, seconds, fail]) => {
    const kind = step.split("/").at(-1) ?? step;
    const node = /^(rollback\/)?(node-\d+)\//.exec(step)?.[2];
    const meta = { step, kind, release, ...(node ? { node } : {}) };
    const start: StepEvent = { event: "start", ...meta, at: at(t) };
    t += seconds;
    const end: StepEvent = fail
      ? { event: "fail", ...meta, at: at(t), seconds, error: "boom", reason: "StepFailed" }
      : { event: "end", ...meta, at: at(t), seconds, ...(step === "preflight" ? { result: PREFLIGHT } : {}) };
    return [start, end];
  });
}

const chain = (node: string, out = 1): Array<[string, number]> => [
  [`${node}/drain`, out],
  [`${node}/stop`, 2],
  [`${node}/upgrade`, 3],
  [`${node}/start`, 4],
  [`${node}/admit`, 1],
];

const UPGRADE: Array<[string, number]> = [
  ["preflight", 1],
  ["db/backup", 2],
  ...chain("node-1"),
  ["db/expand", 2],
  ["db/migrate", 1],
  ["db/verify", 1],
  ...chain("node-2"),
  ...chain("node-3"),
  ["fleet/verify", 1],
  ["db/contract", 2],
];

const run = (name: string, evs: StepEvent[]): RunInput => ({
  name,
  command: commandOfRun(name),
  records: recordsOf(evs),
});

describe("the report model", () => {
  it("one lane per node, one for the database and one for the fleet, a bar per step", () => {
    const model = buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE))] });
    expect(model.lanes).toEqual([FLEET_LANE, DB_LANE, "node-1", "node-2", "node-3"]);
    expect(model.bars).toHaveLength(UPGRADE.length);
    expect(model.bars.filter((b) => b.lane === "node-2").map((b) => b.kind)).toEqual([
      "drain",
      "stop",
      "upgrade",
      "start",
      "admit",
    ]);
    expect(model.database.map((b) => b.step)).toEqual([
      "db/backup",
      "db/expand",
      "db/migrate",
      "db/verify",
      "db/contract",
    ]);
    expect(model.outcome).toBe("completed");
    expect(model.marks).toEqual([]);
    expect(model.release).toBe("2024.1");
  });

  it("a lane for every node the preflight found, also one the chain never reached", () => {
    const model = buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE.slice(0, 10)))] });
    expect(model.lanes).toEqual([FLEET_LANE, DB_LANE, "node-1", "node-2", "node-3"]);
    expect(model.bars.filter((b) => b.lane === "node-3")).toEqual([]);
    expect(model.nodeCount).toBe(3);
  });

  it("places time linearly on the plot: the first start at its left edge, the last end at its right", () => {
    const model = buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE))] });
    const total = UPGRADE.reduce((sum, [, s]) => sum + s, 0);
    const first = model.bars[0];
    const last = model.bars.at(-1)!;
    expect(xAt(model.axis, 0, first.start)).toBeCloseTo(PLOT_X);
    expect(xAt(model.axis, 0, last.end)).toBeCloseTo(PLOT_X + PLOT_WIDTH);
    expect(xAt(model.axis, 0, T0 + (total / 2) * 1000)).toBeCloseTo(PLOT_X + PLOT_WIDTH / 2);
  });

  it("each node's time out of rotation (drain start to admit end) against its floor (stop + upgrade + start)", () => {
    const model = buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE))] });
    // node-1's window holds the database steps (2 + 1 + 1) between its upgrade and its start.
    expect(model.nodes.find((n) => n.node === "node-2")).toEqual({
      node: "node-2",
      outSeconds: 11,
      floorSeconds: 9,
      stillOut: false,
    });
  });

  it("capacity in rotation drops by one for each node out, and is back to every node at the end", () => {
    const model = buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE))] });
    expect(model.nodeCount).toBe(3);
    expect(Math.min(...model.capacity.map((c) => c.inRotation))).toBe(2);
    expect(model.capacity.at(-1)?.inRotation).toBe(3);
    expect(model.capacity.filter((c) => c.inRotation === 2)).toHaveLength(3);
  });

  it("a failed run: the failed step's bar is failed, a failure mark on its lane, the node still out", () => {
    const failed = events(0, [...UPGRADE.slice(0, 10), ["node-2/drain", 1], ["node-2/stop", 2, "fail"]]);
    const model = buildReport({ stack: "s", runs: [run("1-up", failed)] });
    expect(model.outcome).toBe("failed");
    expect(model.marks).toEqual([
      expect.objectContaining({
        type: "failure",
        lane: "node-2",
        label: expect.stringContaining("node-2/stop failed"),
      }),
    ]);
    expect(model.nodes.find((n) => n.node === "node-2")?.stillOut).toBe(true);
    expect(model.capacity.at(-1)?.inRotation).toBe(2);
  });

  it("a capacity refusal at the drain takes nothing out of rotation", () => {
    const refused = events(0, [...UPGRADE.slice(0, 10), ["node-2/drain", 1, "fail"]]).map((e) =>
      e.event === "fail" ? { ...e, reason: "CapacityBelowFloor" as const } : e,
    );
    const model = buildReport({ stack: "s", runs: [run("1-up", refused)] });
    expect(model.nodes.find((n) => n.node === "node-2")?.stillOut).toBe(false);
    expect(model.capacity.at(-1)?.inRotation).toBe(3);
  });

  it("a checkpoint: a run that stopped without failing before contract is marked; the approved run joins it", () => {
    const paused = run("1-up", events(0, UPGRADE.slice(0, 10)));
    const approved = run("3-up", events(600, UPGRADE.slice(10)));
    const joined = latestUpgrade([approved, run("2-approve", []), paused]);
    expect(joined.map((r) => r.name)).toEqual(["1-up", "3-up"]);
    const model = buildReport({ stack: "s", runs: joined });
    expect(model.runs.map((r) => r.outcome)).toEqual(["paused", "completed"]);
    expect(model.marks).toEqual([expect.objectContaining({ type: "checkpoint", at: T0 + 18_000 })]);
    expect(model.axis.segments).toHaveLength(2);
    // One scale for both runs, with a gap between them, however long the wait for approval was.
    const [a, b] = model.axis.segments;
    expect(a.width / (a.to - a.from)).toBeCloseTo(b.width / (b.to - b.from));
    expect(b.x).toBeCloseTo(a.x + a.width + RUN_GAP);
    expect(b.x + b.width).toBeCloseTo(PLOT_X + PLOT_WIDTH);
    expect(model.outcome).toBe("completed");
  });

  it("joins a failure and its resume, and not an earlier completed upgrade or another release's run", () => {
    const older = run("1-up", events(0, UPGRADE, "2023.2"));
    const again = run("2-up", events(100, UPGRADE));
    const failed = run(
      "3-up",
      events(
        1000,
        UPGRADE.slice(0, 13)
          .concat([["node-2/stop", 1]])
          .map(([s, t], i) => (i === 13 ? [s, t, "fail"] : [s, t])) as Array<[string, number, "fail"?]>,
      ),
    );
    const resumed = run("4-up", events(2000, UPGRADE.slice(13)));
    expect(latestUpgrade([older, again, failed, resumed]).map((r) => r.name)).toEqual(["3-up", "4-up"]);
    expect(latestUpgrade([older, again]).map((r) => r.name)).toEqual(["2-up"]);
    expect(latestUpgrade([older, failed]).map((r) => r.name)).toEqual(["3-up"]);
    const rollback = run(
      "5-rollback",
      events(
        3000,
        chain("rollback/node-3").map(([s, t]) => [s, t]),
        "2023.2",
      ),
    );
    expect(latestUpgrade([again, failed, resumed, rollback]).map((r) => r.name)).toEqual([
      "3-up",
      "4-up",
      "5-rollback",
    ]);
  });

  it("the load's requests per second, on the runs' time axis only", () => {
    const model = buildReport({
      stack: "s",
      runs: [run("1-up", events(0, UPGRADE))],
      loads: [
        {
          startedAt: T0 - 3000,
          perSecond: Array.from({ length: 60 }, (_, second) => ({
            second,
            requests: 10,
            failures: second === 10 ? 1 : 0,
          })),
        },
      ],
    });
    expect(model.load[0].at).toBe(T0);
    expect(model.load.every((p) => p.at <= T0 + 44_000)).toBe(true);
    expect(model.load.filter((p) => p.failures > 0)).toEqual([{ at: T0 + 7000, requests: 10, failures: 1 }]);
  });

  it("lays runs out side by side at one scale (a property of axisOf)", () => {
    const axis = axisOf([
      { start: 0, end: 10_000 },
      { start: 50_000, end: 80_000 },
    ]);
    expect(axis.segments[0].width * 3).toBeCloseTo(axis.segments[1].width);
    expect(axis.segments[1].x + axis.segments[1].width).toBeCloseTo(PLOT_X + PLOT_WIDTH);
  });
});

describe("the report page", () => {
  const model = buildReport({
    stack: "st<ack>",
    runs: [
      run("1-up", events(0, [...UPGRADE.slice(0, 10), ["node-2/drain", 1], ["node-2/stop", 2, "fail"]])),
    ],
  });
  const page = renderReportPage(model);

  it("is self-contained: no script, no link, nothing fetched, a CSP that allows no network", () => {
    expect(page).not.toMatch(/<script|<link|src=|href=|@import|url\(http/i);
    expect(page).toContain(`content="default-src 'none'`);
  });

  it("draws one rect per step, each with its times, at the x its start gives", () => {
    const rects = [
      ...page.matchAll(
        /<rect class="bar [^"]*" data-step="([^"]+)"[^>]*data-start="([^"]+)" data-end="([^"]+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g,
      ),
    ];
    expect(rects).toHaveLength(12);
    const scale = PLOT_WIDTH / 21_000;
    for (const [, , start, end, x, width] of rects) {
      expect(Number(x)).toBeCloseTo(PLOT_X + (Date.parse(start) - T0) * scale, 1);
      expect(Number(width)).toBeCloseTo((Date.parse(end) - Date.parse(start)) * scale, 1);
    }
  });

  it("marks the failure on its lane, and says the outcome", () => {
    expect(page.match(/class="mark failure-mark" data-lane="node-2"/g)).toHaveLength(1);
    expect(page).toContain(`<span id="outcome" class="outcome failed">failed</span>`);
    expect(page).toContain("node-2/stop failed: StepFailed: boom");
  });

  it("escapes what it shows", () => {
    expect(page).toContain("st&lt;ack&gt;");
    expect(page).not.toContain("st<ack>");
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("a completed run has no failure mark (negative control of the mark above)", () => {
    const clean = renderReportPage(buildReport({ stack: "s", runs: [run("1-up", events(0, UPGRADE))] }));
    expect(clean).not.toContain(`class="mark failure-mark"`);
    expect(clean).toContain(`class="outcome completed"`);
  });
});

describe("report --html", () => {
  it("is a flag of report alone", () => {
    expect(parseArgs(["report", "--stack", "s", "--html"])).toEqual({
      command: "report",
      stack: "s",
      html: true,
    });
    expect(parseArgs(["report", "--stack", "s"])).toEqual({
      command: "report",
      stack: "s",
      workDir: undefined,
    });
  });

  it("names a run's command from its folder, as the driver and the tests name them", () => {
    expect(commandOfRun("2026-12-06T10-00-00.000Z-up")).toBe("up");
    expect(commandOfRun("3-rollback")).toBe("rollback");
    expect(commandOfRun("2-plain-up")).toBe("plain-up");
  });
});
