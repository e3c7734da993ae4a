/**
 * The peers bench's verdicts that need no lab: the proof that the playbook drained every node
 * (bench/peers/checks.ts), and the side-by-side table and RATIO lines (bench/peers/render.ts),
 * which print a missed goal as MISS rather than hide it.
 */
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { playbookDrainProblems } from "../../bench/peers/checks";
import { failIfBroken, PeerResult, peersTable, ratioLines, wallTimeBound } from "../../bench/peers/render";
import { busyMs } from "../../bench/support/gaps";
import { RotationSample } from "../../bench/peers/rotation";
import { FAILURE_TYPES, FailureType } from "../../lab/load/loadReport";
import { task } from "./support/peers";

const NAMES = { drainTask: "Drain", stopTask: "Stop" };

/** node-1's status every 100 ms from t=0 to t=6000: UP, DRAIN (2 sessions) from 1000, MAINT from 3000. */
function polls(drainFrom = 1_000, maintFrom = 3_000, scur = 2): RotationSample[] {
  return Array.from({ length: 61 }, (_, i) => {
    const at = i * 100;
    const status = at >= maintFrom ? "MAINT" : at >= drainFrom ? "DRAIN" : "UP";
    return { at, servers: { "node-1": { status, scur: status === "DRAIN" ? scur : 0 } } };
  });
}

describe("playbookDrainProblems", () => {
  const tasks = [task("Drain", "node-1", 950, 2_500), task("Stop", "node-1", 3_200, 4_000)];

  it("accepts a drain HAProxy saw, that waited for a session, with the node out while it stopped", () => {
    expect(playbookDrainProblems(["node-1"], tasks, polls(), NAMES)).toEqual([]);
  });

  it("names a node with no drain task", () => {
    expect(playbookDrainProblems(["node-1"], [tasks[1]], polls(), NAMES)).toEqual([
      'node-1: no successful "Drain" task in the playbook\'s timings',
      "no drain waited for a session: the drain wait is not visible in the playbook's timings",
    ]);
  });

  it("names a node HAProxy never saw drained, and one still in rotation while it stopped", () => {
    const problems = playbookDrainProblems(["node-1"], tasks, polls(9_000, 9_000), NAMES);
    expect(problems).toContain("node-1: HAProxy never showed it in DRAIN before it was stopped");
    expect(problems).toContain("node-1: HAProxy had it in rotation (UP) while it was stopped");
  });

  it("fails when no drain had a session to wait for", () => {
    expect(playbookDrainProblems(["node-1"], tasks, polls(1_000, 3_000, 0), NAMES)).toEqual([
      "no drain waited for a session: the drain wait is not visible in the playbook's timings",
    ]);
  });
});

function result(peer: PeerResult["peer"], wallMs: number, failures: number, out: number[]): PeerResult {
  const byType = Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as Record<FailureType, number>;
  if (failures > 0) byType[FAILURE_TYPES[0]] = failures;
  return {
    peer,
    wallMs,
    problems: [],
    outOfRotationMs: Object.fromEntries(out.map((ms, i) => [`node-${i + 1}`, ms])),
    outIntervals: Object.fromEntries(out.map((_, i) => [`node-${i + 1}`, 1])),
    drainWaitMs: peer === "kolla-style" ? {} : { "node-1": 3_500 },
    requests: 4_321,
    failures,
    failuresByType: byType,
    cutDownloads: 0,
    violations: failures > 0 ? 1 : 0,
    loadAverageEnd: "7.00 6.00 5.00",
  };
}

const NODES = ["node-1", "node-2"];

describe("peersTable", () => {
  it("puts one peer per column and every metric on its own row", () => {
    const table = peersTable(
      [
        result("ansible playbook", 100_000, 0, [30_000, 20_000]),
        result("kolla-style", 40_000, 7, [3_000, 4_000]),
      ],
      NODES,
    );
    expect(table.headers).toEqual(["", "ansible playbook", "kolla-style"]);
    const row = (label: string) => table.rows.find((r) => r[0] === label);
    expect(row("wall time")).toEqual(["wall time", "100.00 s", "40.00 s"]);
    expect(row("steps alone (time a step ran)")).toEqual(["steps alone (time a step ran)", "-", "-"]);
    expect(row("node-2 out of rotation (HAProxy)")).toEqual([
      "node-2 out of rotation (HAProxy)",
      "20.00 s (1x)",
      "4.00 s (1x)",
    ]);
    expect(row("node-1 drain wait (own timings)")).toEqual([
      "node-1 drain wait (own timings)",
      "3.50 s",
      "-",
    ]);
    expect(row("requests")?.[1]).toBe("4,321");
    expect(row("failures by kind")).toEqual(["failures by kind", "none", `${FAILURE_TYPES[0]} 7`]);
  });
});

describe("ratioLines", () => {
  const playbook = result("ansible playbook", 100_000, 0, [30_000, 20_000]);
  const kolla = result("kolla-style", 40_000, 7, [3_000, 4_000]);

  it("passes each goal the driver meets", () => {
    const lines = ratioLines(result("driver up", 40_000, 0, [10_000, 20_000]), playbook, kolla, NODES);
    expect(lines.map((l) => l.line)).toEqual([
      "RATIO failed requests driver up / kolla-style = 0 / 7 (goal 0 where kolla-style > 0): PASS",
      "RATIO wall time driver up / ansible playbook = 0.400 (goal <= 0.5): PASS",
      "RATIO node-1 out of rotation driver up / ansible playbook = 0.333 (goal <= 1): PASS",
      "RATIO node-2 out of rotation driver up / ansible playbook = 1.000 (goal <= 1): PASS",
    ]);
  });

  it("prints a missed goal as MISS with its value", () => {
    const lines = ratioLines(
      result("driver up", 60_000, 1, [31_000, 0]),
      playbook,
      result("kolla-style", 1, 0, []),
      NODES,
    );
    expect(lines.map((l) => l.met)).toEqual([false, false, false, true]);
    expect(lines[1].line).toBe("RATIO wall time driver up / ansible playbook = 0.600 (goal <= 0.5): MISS");
    expect(lines[0].line).toContain("= 1 / 0 ");
  });

  it("does not pass a ratio it cannot compute", () => {
    const lines = ratioLines(
      result("driver up", 1, 0, [5_000, 0]),
      result("ansible playbook", 1, 0, [0, 0]),
      kolla,
      NODES,
    );
    expect(lines[2].line).toBe(
      "RATIO node-1 out of rotation driver up / ansible playbook = n/a (goal <= 1): MISS",
    );
  });
});

describe("busyMs: the time at least one step ran", () => {
  const w = (startMs: number, endMs: number) => ({ startMs, endMs });

  it("adds a chain's steps and leaves out the gaps between them", () => {
    expect(busyMs([w(0, 1_000), w(1_050, 2_000), w(2_500, 3_000)])).toBe(2_450);
  });

  it("counts steps running side by side once, in any order, and skips an unfinished one", () => {
    expect(busyMs([w(2_000, 2_100), w(0, 1_000), w(500, 1_500), w(600, 700), w(3_000, Number.NaN)])).toBe(
      1_600,
    );
  });
});

describe("wallTimeBound", () => {
  const playbook = result("ansible playbook", 100_000, 0, [30_000, 20_000]);
  const driver = (stepsBusyMs: number | undefined) => ({
    ...result("driver up", 66_000, 0, [10_000, 10_000]),
    stepsBusyMs,
  });

  it("says when the steps alone already take more than half the playbook's wall time", () => {
    expect(wallTimeBound(driver(62_000), playbook)).toBe(
      "BOUND steps alone driver up / ansible playbook = 0.620, above 0.5: no orchestration of these " +
        "steps meets the wall-time goal (the driver's own cost in this run: 4.00 s)",
    );
  });

  it("says how much room orchestration has when they do not, and prints nothing without the figure", () => {
    expect(wallTimeBound(driver(45_000), playbook)).toContain(
      "= 0.450, orchestration may cost up to 0.050 of the playbook's wall time",
    );
    expect(wallTimeBound(driver(undefined), playbook)).toBeUndefined();
  });
});

describe("failIfBroken", () => {
  function run(results: PeerResult[]): { lines: string[]; exitCode: typeof process.exitCode } {
    const before = process.exitCode;
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    onTestFinished(() => {
      log.mockRestore();
      process.exitCode = before;
    });
    failIfBroken(results);
    return { lines: log.mock.calls.map((c) => String(c[0])), exitCode: process.exitCode };
  }
  const ok = result("ansible playbook", 1, 0, []);

  it("names each run that did not complete and sets exit code 1", () => {
    const broken = {
      ...result("driver up", 1, 0, []),
      problems: ["driver up exited 1", "node-2 runs 27.1.1"],
    };
    expect(run([ok, broken])).toEqual({
      lines: ["BENCH FAILED: driver up: driver up exited 1; node-2 runs 27.1.1"],
      exitCode: 1,
    });
  });

  it("prints nothing and leaves the exit code alone when every run completed", () => {
    const { lines, exitCode } = run([ok]);
    expect(lines).toEqual([]);
    expect(exitCode).not.toBe(1);
  });
});
