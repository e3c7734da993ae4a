/**
 * Orchestration overhead: the lab upgrade of 3 real Glance nodes through the driver (real engine)
 * versus the floor (the same step requests replayed by a plain script with no Pulumi, on a second
 * fresh lab), then the engine's per-step cost at 10 and 50 nodes on HTTP stand-ins.
 *
 *   npm run build && node dist/bench/orchestration.js [--skip-lab] [--sizes 10,50] [--rounds 3]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { labDown, labUp } from "../lab/lab";
import type { LabPorts, LabState } from "../lab/state";
import { findFreePort, findFreePortRun } from "../lab/services/ports";
import { labStackConfig, LAB_SECRETS } from "../lab/stack";
import { BenchStack, changeSummary, DriverRun } from "./support/benchStack";
import { FloorRun, floorStepsFromState, FloorStep, runFloor } from "./support/floor";
import {
  gapsBetweenSteps,
  GapSummary,
  StepWindow,
  windowsFromFloor,
  windowsFromTimeline,
  workMs,
} from "./support/gaps";
import { machineLine, millis, printTable, progress, ratioLine, seconds } from "./support/report";
import { STANDIN_CHECK_INTERVAL_MS, startStandinFleet } from "./support/standins";

const GOAL_RATIO = 1.1;
/** `--keep`: leave the bench stacks' folders (driver logs, timelines) and state for a closer look. */
const KEEP = process.argv.includes("--keep");
const LAB_NODES = 3;
/**
 * `--rounds N`: the lab comparison is repeated on fresh labs and stacks, the driver and the floor
 * taking turns to go first. One pair is too noisy for a 10% goal (Glance's graceful stop and
 * HAProxy's health-check phase move a run by seconds), so the ratio is the median over rounds.
 */
const ROUNDS = numberOption("--rounds", 3);

function numberOption(flag: string, fallback: number): number {
  const index = process.argv.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a whole number >= 1`);
  return value;
}

interface Comparison {
  steps: FloorStep[];
  up: DriverRun;
  floor: FloorRun;
  driverGaps: GapSummary;
  floorGaps: GapSummary;
}

async function compare(stack: BenchStack, up: DriverRun, floorOn: () => Promise<void>): Promise<Comparison> {
  const steps = floorStepsFromState(stack.exportState());
  if (steps.length === 0) throw new Error(`no step resources in the state of stack ${stack.name}`);
  await floorOn();
  progress(`floor: replaying ${steps.length} steps with runStep, no engine`);
  const floor = await runFloor(steps);
  return {
    steps,
    up,
    floor,
    driverGaps: gapsBetweenSteps(steps, windowsFromTimeline(up.timeline)),
    floorGaps: gapsBetweenSteps(steps, windowsFromFloor(floor.steps)),
  };
}

async function labOn(dir: string, ports: LabPorts): Promise<LabState> {
  const started = performance.now();
  const lab = await labUp({ dir, nodes: LAB_NODES, ports, log: () => undefined });
  progress(`lab up in ${seconds(performance.now() - started)}`);
  return lab;
}

async function realLab(): Promise<void> {
  // Both labs use one dir and one set of ports (one after the other), so the requests the program
  // built for the first replay unchanged on the second.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-bench-lab-"));
  const ports: LabPorts = {
    mariadb: await findFreePort(),
    haproxyFrontend: await findFreePort(),
    haproxyRuntimeTcp: await findFreePort(),
    firstNode: await findFreePortRun(LAB_NODES),
  };
  let stack: BenchStack | undefined;
  const extraStacks: BenchStack[] = [];
  try {
    const lab = await labOn(dir, ports);
    stack = new BenchStack("bench-orch", labStackConfig(lab, { transport: "local" }), LAB_SECRETS);
    progress("driver plan (start-up: process, workspace, config; no engine operation)");
    const plan = await stack.driverOk("plan");
    progress("driver preview of the fresh stack");
    const freshPreview = await stack.driverOk("preview");
    progress("driver up: the real upgrade of 3 Glance nodes");
    const up = await stack.driverOk("up");
    progress("driver up again (no-op) and preview (no-op)");
    const noopUp = await stack.driverOk("up");
    const noopPreview = await stack.driverOk("preview");
    const freshLab = async () => {
      await labDown(dir, { purge: true, log: () => undefined });
      await labOn(dir, ports);
    };
    const result = await compare(stack, up, freshLab);
    report3(result, { plan, freshPreview, noopUp, noopPreview });

    const rounds: Array<{ driverMs: number; floorMs: number; first: string }> = [
      { driverMs: up.wallMs, floorMs: result.floor.wallMs, first: "driver" },
    ];
    for (let round = 2; round <= ROUNDS; round++) {
      const floorFirst = round % 2 === 0;
      const roundStack = new BenchStack(
        `bench-orch-r${round}`,
        labStackConfig(lab, { transport: "local" }),
        LAB_SECRETS,
      );
      extraStacks.push(roundStack);
      let floorMs = 0;
      let driverMs = 0;
      const runFloorRound = async () => {
        await freshLab();
        progress(`round ${round}: floor`);
        floorMs = (await runFloor(result.steps)).wallMs;
      };
      const runDriverRound = async () => {
        await freshLab();
        progress(`round ${round}: driver up`);
        driverMs = (await roundStack.driverOk("up")).wallMs;
      };
      if (floorFirst) {
        await runFloorRound();
        await runDriverRound();
      } else {
        await runDriverRound();
        await runFloorRound();
      }
      rounds.push({ driverMs, floorMs, first: floorFirst ? "floor" : "driver" });
    }
    reportRounds(rounds);
  } finally {
    if (!KEEP) for (const extra of extraStacks) extra.remove();
    if (!KEEP) stack?.remove();
    await labDown(dir, { purge: true, log: () => undefined }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report3(
  r: Comparison,
  fixed: { plan: DriverRun; freshPreview: DriverRun; noopUp: DriverRun; noopPreview: DriverRun },
): void {
  const n = r.steps.length;
  const upWork = workMs(windowsFromTimeline(r.up.timeline));
  const floorWork = workMs(windowsFromFloor(r.floor.steps));
  printTable(
    `Lab upgrade of ${LAB_NODES} real Glance nodes (27.1.1 -> 28.2.0), ${n} steps, nodes as local commands`,
    ["run", "wall", "first step -> last step", "sum of step run times", "median gap between steps"],
    [
      [
        "driver up (engine)",
        seconds(r.up.wallMs),
        seconds(stepSpan(r.up)),
        seconds(upWork),
        millis(r.driverGaps.medianMs),
      ],
      [
        "floor (plain script, runStep)",
        seconds(r.floor.wallMs),
        seconds(r.floor.stepsMs),
        seconds(floorWork),
        millis(r.floorGaps.medianMs, 1),
      ],
    ],
  );
  printTable(
    "Engine fixed cost (driver process from spawn to exit)",
    ["run", "wall", "runbook printed at", "engine output at"],
    [
      ["plan (start-up: workspace, config, validation; no engine op)", fixed.plan],
      [
        `preview, fresh stack (${JSON.stringify(changeSummary(fixed.freshPreview.stdout))})`,
        fixed.freshPreview,
      ],
      ["up, no-op (all same)", fixed.noopUp],
      ["preview, no-op", fixed.noopPreview],
    ].map(([label, run]) => {
      const d = run as DriverRun;
      return [
        label as string,
        seconds(d.wallMs),
        d.phases.runbook === undefined ? "-" : seconds(d.phases.runbook),
        d.phases.engine === undefined ? "-" : seconds(d.phases.engine),
      ];
    }),
  );
  printTable(
    "Step run times by kind, summed (driver timeline vs floor)",
    ["kind", "steps", "driver", "floor"],
    byKind(r.steps, windowsFromTimeline(r.up.timeline), windowsFromFloor(r.floor.steps)),
  );
  const overheadMs = r.up.wallMs - r.floor.wallMs;
  const outside = r.up.wallMs - stepSpan(r.up);
  printTable(
    "Where the driver's extra time goes",
    ["part", "time"],
    [
      ["driver wall - floor wall", seconds(overheadMs)],
      ["  before the first step and after the last (start-up, engine, program, summary)", seconds(outside)],
      [
        `  between steps (sum of ${r.driverGaps.steps} gaps; floor: ${millis(r.floorGaps.totalMs)})`,
        seconds(r.driverGaps.totalMs),
      ],
      ["  steps themselves running longer than in the floor", seconds(upWork - floorWork)],
      [`engine cost per step, all-in ((driver - floor) / ${n})`, millis(overheadMs / n)],
      ["engine cost per step, between steps only (mean gap)", millis(r.driverGaps.meanMs)],
      [
        "median gap, first quarter -> last quarter of the steps",
        `${millis(r.driverGaps.firstQuarterMs)} -> ${millis(r.driverGaps.lastQuarterMs)}`,
      ],
    ],
  );
}

function reportRounds(rounds: Array<{ driverMs: number; floorMs: number; first: string }>): void {
  const ratios = rounds.map((r) => r.driverMs / r.floorMs);
  printTable(
    `Lab upgrade, driver vs floor over ${rounds.length} rounds (fresh lab and stack each time)`,
    ["round", "first", "driver up", "floor", "driver - floor", "ratio"],
    rounds.map((r, i) => [
      String(i + 1),
      r.first,
      seconds(r.driverMs),
      seconds(r.floorMs),
      seconds(r.driverMs - r.floorMs),
      ratios[i].toFixed(3),
    ]),
  );
  const median = medianOf(ratios);
  console.log(
    `median driver - floor: ${seconds(medianOf(rounds.map((r) => r.driverMs - r.floorMs)))}; ` +
      `ratios from ${Math.min(...ratios).toFixed(3)} to ${Math.max(...ratios).toFixed(3)}`,
  );
  ratioLine(
    `orchestration driver/floor (3 real nodes, median of ${rounds.length} rounds)`,
    median,
    `<= ${GOAL_RATIO}`,
    median <= GOAL_RATIO,
  );
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function byKind(
  steps: FloorStep[],
  driver: Map<string, StepWindow>,
  floor: Map<string, StepWindow>,
): string[][] {
  const kinds = [...new Set(steps.map((s) => s.kind))];
  const total = (windows: Map<string, StepWindow>, kind: string) =>
    steps
      .filter((s) => s.kind === kind)
      .reduce((sum, s) => {
        const w = windows.get(s.step);
        return sum + (w ? w.endMs - w.startMs : 0);
      }, 0);
  return kinds.map((kind) => [
    kind,
    String(steps.filter((s) => s.kind === kind).length),
    seconds(total(driver, kind)),
    seconds(total(floor, kind)),
  ]);
}

function stepSpan(run: DriverRun): number {
  const windows = [...windowsFromTimeline(run.timeline).values()];
  return Math.max(...windows.map((w) => w.endMs)) - Math.min(...windows.map((w) => w.startMs));
}

async function standins(sizes: number[]): Promise<void> {
  const rows: string[][] = [];
  for (const nodes of sizes) {
    progress(`${nodes} stand-in nodes: starting the fleet`);
    const fleet = await startStandinFleet(nodes);
    let stack: BenchStack | undefined;
    try {
      stack = new BenchStack(
        `bench-standin${nodes}`,
        labStackConfig(fleet.layout, { transport: "local" }),
        LAB_SECRETS,
      );
      progress(`${nodes} stand-in nodes: driver preview, up, no-op up`);
      const preview = await stack.driverOk("preview");
      const up = await stack.driverOk("up");
      const noopUp = await stack.driverOk("up");
      const r = await compare(stack, up, async () => undefined);
      const n = r.steps.length;
      const stateKib = stack.stateBytes() / 1024;
      rows.push([
        String(nodes),
        String(n),
        seconds(preview.wallMs),
        millis(preview.wallMs / n),
        seconds(up.wallMs),
        seconds(r.floor.wallMs),
        millis((up.wallMs - r.floor.wallMs) / n),
        millis(r.driverGaps.meanMs),
        `${millis(r.driverGaps.firstQuarterMs)} -> ${millis(r.driverGaps.lastQuarterMs)}`,
        `${stateKib.toFixed(0)} KiB`,
        seconds(noopUp.wallMs),
        millis(noopUp.wallMs / n),
      ]);
    } finally {
      if (!KEEP) stack?.remove();
      await fleet.stop();
    }
  }
  printTable(
    `Engine cost per step on HTTP STAND-INS for Glance nodes (node scripts are no-op stand-ins; HAProxy checks every ${STANDIN_CHECK_INTERVAL_MS} ms)`,
    [
      "nodes",
      "steps",
      "preview (fresh)",
      "preview / step",
      "up",
      "floor",
      "(up - floor) / step",
      "mean gap between steps",
      "median gap, first -> last quarter",
      "state file",
      "no-op up",
      "no-op up / step",
    ],
    rows,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args[args.indexOf("--sizes") + 1];
  const sizes = args.includes("--sizes") && sizesArg ? sizesArg.split(",").map(Number) : [10, 50];
  console.log(machineLine());
  if (!args.includes("--skip-lab")) await realLab();
  if (sizes.length > 0 && sizes.every((s) => s > 0)) await standins(sizes);
  console.log(machineLine().replace(/^machine: .*; /, "at the end: "));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
