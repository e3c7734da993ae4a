/**
 * Soak: N consecutive upgrade-and-rollback cycles of one 3-node lab under continuous client load.
 * Each cycle runs the driver's `up` with `pauseAfter` at the last wave, then the driver's `rollback`
 * (every node back to release A, one at a time, no database step).
 *
 * A pause after the last wave (plan/config/fleetChecks.ts accepts `pauseAfter` from 1 to the number
 * of waves after the NEW NODE) holds the chain after the last node's admission: every node runs
 * release B and is admitted, the schema is expanded and migrated, and the version reports, the fleet
 * check and `db contract` have not run, so the rollback is allowed. In a 3-node lab (maxUnavailable
 * 1: waves node-1 | node-2 | node-3) that is `pauseAfter: 2` (`--nodes N`: N - 1).
 *
 * The rollback's program replaces the upgrade's steps in the stack (their delete does nothing to the
 * fleet), so the next `up` creates and runs the whole chain again. Every cycle checks the releases
 * the nodes run before, after the `up` and after the rollback, and which steps each run started, so a
 * no-op cycle cannot pass unnoticed.
 *
 * One load per cycle (started 3 s before the `up`, stopped 3 s after the rollback), judged like the
 * e2e tests judge theirs (lab/load/verdict.ts): no failed request, no cut download, every kind of
 * request made, no abnormal HAProxy line while it ran, every drain with a download in flight.
 *
 *   npm run build && node dist/bench/soak.js [--cycles 10] [--keep]
 */
import { LabState, runGlanceNode } from "../lab/lab";
import { LoadReport, startLoad } from "../lab/load/client";
import { readHaproxyLog } from "../lab/load/haproxyLog";
import {
  describeViolations,
  drainStarts,
  labHaproxyLog,
  loadSummary,
  Violation,
  zeroFailureViolations,
} from "../lab/load/verdict";
import { labStackConfig, LAB_SECRETS } from "../lab/stack";
import { dbStep, FLEET_VERIFY_STEP, nodeStep, parseNodeStep, RELEASE_CHANGE_KINDS } from "../plan/stepIds";
import { wavesAfterNewNodeCount } from "../plan/waves";
import { freshLab, removeLab } from "../test/support/labFixture";
import { BenchStack, DriverRun } from "./support/benchStack";
import { loadAverage, machineLine, median, printTable, progress, runBench, seconds } from "./support/report";

/** `--nodes N`: the lab's size (default 3, at least 2); every node is upgraded and rolled back. */
const LAB_NODES = numberOption("--nodes", 3, 2);
/**
 * The last wave (maxUnavailable 1, so one node per wave after the NEW NODE's wave 0: waves 1 to N-1):
 * every node upgraded and admitted, the version reports, the fleet check and `db contract` not run.
 */
const PAUSE_AFTER = wavesAfterNewNodeCount(LAB_NODES, 1);
/** Steps past the last wave's admission: none may start before the checkpoint is approved. */
const PAST_CHECKPOINT = (step: string) =>
  step === FLEET_VERIFY_STEP ||
  step === dbStep("contract") ||
  step === dbStep("restore-setting") ||
  parseNodeStep(step)?.kind === "version";
const SETTLE_MS = 3_000;
const MIN_REQUESTS_PER_CYCLE = 100;
const MIN_REQUESTS_TOTAL = 20_000;
/** `--keep`: leave the bench stack's folder (driver logs, timelines) and state for a closer look. */
const KEEP = process.argv.includes("--keep");
const CYCLES = numberOption("--cycles", 10);

function numberOption(flag: string, fallback: number, min = 1): number {
  const index = process.argv.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < min) throw new Error(`${flag} takes a whole number >= ${min}`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const count = (n: number) => n.toLocaleString("en-US");

interface Cycle {
  index: number;
  up?: DriverRun;
  rollback?: DriverRun;
  report: LoadReport;
  violations: Violation[];
  /** Why the cycle could not finish (a driver run failed, a node ran the wrong release). */
  broken?: string;
}

async function releases(lab: LabState): Promise<string[]> {
  return Promise.all(
    lab.nodes.map(async (n) => {
      const result = await runGlanceNode(lab.dir, ["release", n.name]);
      return result.code === 0 ? result.stdout.trim() : `? (exit ${result.code}: ${result.stderr.trim()})`;
    }),
  );
}

function stepsStarted(run: DriverRun): string[] {
  return run.timeline.filter((e) => e.event === "start").map((e) => e.step);
}

function tail(run: DriverRun): string {
  const out = run.stdout.split("\n").slice(-40).join("\n");
  const err = run.stderr.trim() ? `\n--- stderr ---\n${run.stderr.split("\n").slice(-20).join("\n")}` : "";
  return `${out}${err}`;
}

/** What is wrong with a driver up, or undefined when it did what a cycle needs. */
function upProblem(up: DriverRun, all: string[]): string | undefined {
  if (up.code !== 0) return `driver up exited ${up.code}`;
  if (!up.stdout.includes("PAUSED after")) return "driver up did not print PAUSED after (no checkpoint?)";
  const started = new Set(stepsStarted(up));
  const missing = all.filter((step) => !started.has(step));
  if (missing.length > 0) return `driver up did not run ${missing.join(", ")} (a no-op cycle?)`;
  const beyond = [...started].filter(PAST_CHECKPOINT);
  if (beyond.length > 0) return `driver up ran ${beyond.join(", ")}: past the checkpoint, which did not hold`;
  return undefined;
}

async function runCycle(index: number, lab: LabState, stack: BenchStack): Promise<Cycle> {
  const from = lab.fromRelease;
  const to = lab.toRelease;
  // The whole chain up to the checkpoint: every node's steps, the database's expand, migrate and
  // check; the version reports, the fleet check and db contract must not start.
  const upgraded = lab.nodes.map((n) => n.name);
  const nodeSteps = (node: string, rollback = false) =>
    RELEASE_CHANGE_KINDS.map((kind) => nodeStep(node, kind, rollback));
  const chain = [
    ...upgraded.flatMap((node) => nodeSteps(node)),
    ...(["expand", "migrate", "verify"] as const).map(dbStep),
  ];
  const expectedAfterUp = lab.nodes.map(() => to);
  const before = await releases(lab);
  if (before.some((r) => r !== from)) {
    throw new Error(`cycle ${index}: the nodes run ${before.join(", ")} before the cycle, not ${from}`);
  }
  const seen: string[] = [`before ${before.join(", ")}`];
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  let up: DriverRun | undefined;
  let rollback: DriverRun | undefined;
  let broken: string | undefined;
  try {
    await sleep(SETTLE_MS);
    progress(`cycle ${index}: driver up (pauseAfter ${PAUSE_AFTER})`);
    up = await stack.driver("up");
    broken = upProblem(up, chain);
    if (broken) {
      console.log(`cycle ${index}: ${broken}; its output ends with:\n${tail(up)}`);
    } else {
      const afterUp = await releases(lab);
      seen.push(`after up ${afterUp.join(", ")}`);
      if (afterUp.join() !== expectedAfterUp.join())
        broken = `after up the nodes run ${afterUp.join(", ")}, not ${expectedAfterUp.join(", ")}`;
    }
    if (!broken) {
      progress(`cycle ${index}: driver rollback`);
      rollback = await stack.driver("rollback");
      const rolledBack = stepsStarted(rollback);
      if (rollback.code !== 0) {
        broken = `driver rollback exited ${rollback.code}`;
        console.log(`cycle ${index}: ${broken}; its output ends with:\n${tail(rollback)}`);
      } else if (rolledBack.join() !== upgraded.flatMap((n) => nodeSteps(n, true)).join()) {
        broken = `driver rollback ran ${rolledBack.join(", ") || "no step"}, not ${upgraded.join(" then ")}'s`;
        console.log(`cycle ${index}: ${broken}; its output ends with:\n${tail(rollback)}`);
      } else {
        const back = await releases(lab);
        seen.push(`after rollback ${back.join(", ")}`);
        if (back.some((r) => r !== from))
          broken = `after rollback the nodes run ${back.join(", ")}, not ${from}`;
      }
    }
    await sleep(SETTLE_MS);
  } catch (error) {
    broken = `error: ${error instanceof Error ? error.message : String(error)}`;
  }
  // The load is stopped and judged whatever happened: its failures are findings either way.
  const report = await load.stop();
  const haproxyLines = readHaproxyLog(labHaproxyLog(lab));
  const violations = zeroFailureViolations(report, {
    minRequests: MIN_REQUESTS_PER_CYCLE,
    haproxyLines,
    drains: [...drainStarts(up?.timeline ?? []), ...drainStarts(rollback?.timeline ?? [])],
  });
  const cycle: Cycle = { index, up, rollback, report, violations, broken };
  printCycle(cycle);
  console.log(`  releases (${lab.nodes.map((n) => n.name).join(", ")}): ${seen.join("; ")}`);
  for (const line of describeViolations(report, violations, haproxyLines)) console.log(`  ${line}`);
  if (broken) console.log(`  BROKEN: ${broken}`);
  return cycle;
}

function failuresByType(report: LoadReport): string {
  const types = Object.entries(report.failuresByType)
    .filter(([, n]) => n > 0)
    .map(([type, n]) => `${type} ${n}`);
  return types.length > 0 ? types.join(", ") : "none";
}

function printCycle(c: Cycle): void {
  const r = c.report;
  console.log(
    `cycle ${c.index}: up ${c.up ? seconds(c.up.wallMs) : "-"} (${c.up ? stepsStarted(c.up).length : 0} steps), ` +
      `rollback ${c.rollback ? seconds(c.rollback.wallMs) : "-"} (${c.rollback ? stepsStarted(c.rollback).length : 0} steps); ` +
      `${count(r.requests)} requests, ${r.failures} failed (${failuresByType(r)}), ${r.cutDownloads} cut downloads; ` +
      `${c.violations.length === 0 && !c.broken ? "ok" : "MISS"}; load average ${loadAverage()}`,
  );
  console.log(`  load: ${loadSummary(r)}`);
}

function spread(values: number[]): string {
  if (values.length === 0) return "-";
  return `${seconds(Math.min(...values))} / ${seconds(median(values))} / ${seconds(Math.max(...values))}`;
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `soak: ${CYCLES} cycles of driver up (pauseAfter: ${PAUSE_AFTER}, the last wave: every node on release B, ` +
      `db contract not run) + driver rollback of every node, on one ${LAB_NODES}-node lab; ` +
      `one client load per cycle (${SETTLE_MS / 1000} s before and after)`,
  );
  let lab: LabState | undefined;
  let stack: BenchStack | undefined;
  const cycles: Cycle[] = [];
  const started = performance.now();
  try {
    const labStarted = performance.now();
    lab = await freshLab(LAB_NODES);
    progress(`lab up in ${seconds(performance.now() - labStarted)} (${lab.dir})`);
    stack = new BenchStack(
      "bench-soak",
      { ...labStackConfig(lab, { transport: "local" }), pauseAfter: PAUSE_AFTER },
      LAB_SECRETS,
    );
    for (let i = 1; i <= CYCLES; i++) {
      const cycle = await runCycle(i, lab, stack);
      cycles.push(cycle);
      if (cycle.broken) {
        console.log(`soak stopped after cycle ${i}: ${cycle.broken}`);
        break;
      }
    }
  } finally {
    if (KEEP && stack) console.log(`kept: ${stack.folder}`);
    else stack?.remove();
    await removeLab(lab);
  }

  printTable(
    `Soak cycles (up = driver up of every node to the checkpoint pauseAfter ${PAUSE_AFTER}; rollback = driver rollback of every node)`,
    ["cycle", "up", "rollback", "requests", "failed", "failures by type", "cut downloads", "violations"],
    cycles.map((c) => [
      String(c.index),
      c.up ? seconds(c.up.wallMs) : "-",
      c.rollback ? seconds(c.rollback.wallMs) : "-",
      count(c.report.requests),
      String(c.report.failures),
      failuresByType(c.report),
      String(c.report.cutDownloads),
      String(c.violations.length + (c.broken ? 1 : 0)),
    ]),
  );
  const requests = cycles.reduce((n, c) => n + c.report.requests, 0);
  const failed = cycles.reduce((n, c) => n + c.report.failures, 0);
  const cut = cycles.reduce((n, c) => n + c.report.cutDownloads, 0);
  const ups = cycles.flatMap((c) => (c.up ? [c.up.wallMs] : []));
  const rollbacks = cycles.flatMap((c) => (c.rollback ? [c.rollback.wallMs] : []));
  console.log(
    `total: ${cycles.length} cycles in ${seconds(performance.now() - started, 0)}; ${count(requests)} requests, ` +
      `${failed} failed, ${cut} cut downloads; up min/median/max ${spread(ups)}; rollback min/median/max ${spread(rollbacks)}`,
  );
  console.log(`load average at end: ${loadAverage()}`);

  const reasons: string[] = [];
  if (cycles.length < CYCLES) reasons.push(`${cycles.length} of ${CYCLES} cycles ran`);
  const broken = cycles.filter((c) => c.broken);
  if (broken.length > 0) reasons.push(`cycles not completed: ${broken.map((c) => c.index).join(", ")}`);
  if (requests < MIN_REQUESTS_TOTAL) reasons.push(`fewer than ${count(MIN_REQUESTS_TOTAL)} requests`);
  const judged = cycles.filter((c) => c.violations.length > 0);
  if (judged.length > 0) reasons.push(`cycles with violations: ${judged.map((c) => c.index).join(", ")}`);
  const pass = reasons.length === 0 && failed === 0 && cut === 0;
  console.log(
    `goal: >= ${count(MIN_REQUESTS_TOTAL)} requests in total, 0 failed, 0 cut downloads, every cycle completed with no violation` +
      (reasons.length > 0 ? `; missed: ${reasons.join("; ")}` : ""),
  );
  console.log(
    `SOAK ${CYCLES} cycles: ${count(requests)} requests, ${failed} failed, ${cut} cut downloads: ${pass ? "PASS" : "MISS"}`,
  );
  if (!pass) process.exitCode = 1;
}

runBench(main);
