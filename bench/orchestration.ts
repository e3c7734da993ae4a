/**
 * Orchestration overhead: the lab upgrade of 3 real Glance nodes through the driver (real engine)
 * versus the floor (the same step requests replayed by a plain script with no Pulumi, on a second
 * fresh lab), then the engine's per-step cost at 10 and 50 nodes on HTTP stand-ins.
 *
 *   npm run build && node dist/bench/orchestration.js [--skip-lab] [--sizes 10,50] [--rounds 3] [--realistic]
 *
 * `--realistic`: the lab of issue 25 item 2, where each node's release is pip-installed from a local
 * wheelhouse (`upgradeMode: "wheelhouse"`) and pre-staged (`prestageCommand`); the floor replays the
 * same requests, prestage included.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { labDown, labUp } from "../lab/lab";
import { nodePortRun, type LabPorts, type LabState } from "../lab/state";
import { findFreePort, findFreePortRun } from "../lab/services/ports";
import { labStackConfig, LAB_SECRETS } from "../lab/stack";
import { BenchStack, DriverRun } from "./support/benchStack";
import { floorStepsFromState, runFloor } from "./support/floor";
import { gapsBetweenSteps, windowsFromFloor, windowsFromTimeline } from "./support/gaps";
import { Comparison, reportLabComparison, reportRounds } from "./support/orchestrationReport";
import { machineLine, millis, printTable, progress, runBench, seconds } from "./support/report";
import { STANDIN_CHECK_INTERVAL_MS, startStandinFleet } from "./support/standins";

/** `--keep`: leave the bench stacks' folders (driver logs, timelines) and state for a closer look. */
const KEEP = process.argv.includes("--keep");
const LAB_NODES = 3;
/**
 * `--rounds N`: the lab comparison is repeated on fresh labs and stacks, the driver and the floor
 * taking turns to go first. One pair is too noisy for a 10% goal (Glance's graceful stop and
 * HAProxy's health-check phase move a run by seconds), so the ratio is the median over rounds.
 */
const ROUNDS = numberOption("--rounds", 3);
const REALISTIC = process.argv.includes("--realistic");
const stackConfig = (lab: LabState) =>
  labStackConfig(lab, { transport: "local", ...(REALISTIC ? { prestage: true } : {}) });

function numberOption(flag: string, fallback: number): number {
  const index = process.argv.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a whole number >= 1`);
  return value;
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
  const lab = await labUp({
    dir,
    nodes: LAB_NODES,
    ports,
    log: () => undefined,
    ...(REALISTIC ? { upgradeMode: "wheelhouse" as const } : {}),
  });
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
    firstNode: await findFreePortRun(nodePortRun(LAB_NODES)),
  };
  let stack: BenchStack | undefined;
  const extraStacks: BenchStack[] = [];
  try {
    const lab = await labOn(dir, ports);
    stack = new BenchStack("bench-orch", stackConfig(lab), LAB_SECRETS);
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
    reportLabComparison(result, { plan, freshPreview, noopUp, noopPreview }, LAB_NODES);

    const rounds: Array<{ driverMs: number; floorMs: number; first: string }> = [
      { driverMs: up.wallMs, floorMs: result.floor.wallMs, first: "driver" },
    ];
    for (let round = 2; round <= ROUNDS; round++) {
      const floorFirst = round % 2 === 0;
      const roundStack = new BenchStack(`bench-orch-r${round}`, stackConfig(lab), LAB_SECRETS);
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
    reportRounds(rounds, REALISTIC ? "realistic" : "lab");
  } finally {
    if (!KEEP) for (const extra of extraStacks) extra.remove();
    if (!KEEP) stack?.remove();
    await labDown(dir, { purge: true, log: () => undefined }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
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

runBench(main);
