/**
 * Prestage: the driver's `up` of a realistic 3-node lab (upgrade mode "wheelhouse": each node's
 * release is pip-installed from a local wheelhouse, tens of seconds), 2023.2 -> 2024.1, twice, each
 * on a fresh lab under the same load client as bench/peers.ts (3 s before to 3 s after): (a) without
 * `nodeCommands.prestageCommand`, (b) with it. Measured like the peers (bench/peers/measure.ts): wall
 * time, each node's time out of rotation as HAProxy saw it, failed requests by kind, cut downloads;
 * and from the driver itself: each node's out of rotation in its summary, its prestage and install
 * (`node-X/upgrade`) durations. Prints one table and RATIO lines: with / without per node, and with
 * against the node's physical floor (bench/prestage/report.ts).
 *
 * Exits 1 when a run did not complete or upgrade (every node on the target release, `db check` 0),
 * or when run (b) left a node un-pre-staged; a missed goal is printed, not fatal.
 *
 *   npm run build && node dist/bench/prestage.js [--keep] [--only without|with]
 */
import { nodeSummaries, Summary } from "../driver/summary";
import { measurePeer } from "./peers/measure";
import { driverProcedure } from "./peers/procedures";
import { failIfBroken } from "./peers/render";
import { inWindowLines, nodeSteps, PrestageRun, prestageRatios, prestageTable } from "./prestage/report";
import { loadAverage, machineLine, printTable, runBench } from "./support/report";
import type { TimelineEvent } from "../steps/record";

const KEEP = process.argv.includes("--keep");
/** `--only without|with`: one run (to look at it); its table, no ratios. */
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const NODES = ["node-1", "node-2", "node-3"];
const RUNS = { without: false, with: true } as const;

async function measure(prestage: boolean): Promise<PrestageRun> {
  let timeline: TimelineEvent[] = [];
  let summary: Summary | undefined;
  const procedure = driverProcedure(KEEP, {
    peer: prestage ? "with prestage" : "without prestage",
    prestage,
    stackPrefix: "bench-prestage",
    inspect: (up, stack) => {
      timeline = up.timeline;
      if (up.code !== 0) return;
      summary = stack.outputs().summary as Summary | undefined;
    },
  });
  const result = await measurePeer(procedure, { upgradeMode: "wheelhouse" });
  const nodes = summary === undefined ? [] : nodeSummaries(summary);
  const ran = timeline.filter((e) => e.kind === "prestage" && e.event === "end").length;
  if (result.problems.length === 0) {
    if (summary === undefined) result.problems.push("the driver's stack has no summary output");
    if (prestage && nodes.some((n) => !n.prestaged))
      result.problems.push(
        `not every node left rotation pre-staged: ${nodes.map((n) => `${n.node} ${n.prestaged ? "yes" : "no"}`).join(", ")}`,
      );
    if (!prestage && ran > 0) result.problems.push(`${ran} prestage step(s) ran in the run without prestage`);
  }
  return { result, steps: NODES.map((n) => nodeSteps(timeline, n)), summary: nodes };
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`load average at start: ${loadAverage()}`);
  if (ONLY !== undefined && !(ONLY in RUNS))
    throw new Error(`--only takes one of ${Object.keys(RUNS).join(", ")}`);
  const runs: PrestageRun[] = [];
  for (const [name, prestage] of Object.entries(RUNS))
    if (ONLY === undefined || ONLY === name) runs.push(await measure(prestage));

  const table = prestageTable(runs, NODES);
  printTable(
    'Prestage: 3-node lab in upgrade mode "wheelhouse" (pip install from a local wheelhouse), 2023.2 -> 2024.1, ' +
      "driver up under the same load client; out of rotation (HAProxy) = not UP, polled every 100 ms",
    table.headers,
    table.rows,
  );
  console.log(`load average at end: ${loadAverage()}`);
  for (const line of runs.flatMap(inWindowLines)) console.log(line);
  if (runs.length === 2) for (const ratio of prestageRatios(runs[0], runs[1], NODES)) console.log(ratio.line);

  failIfBroken(runs.map((r) => r.result));
}

runBench(main);
