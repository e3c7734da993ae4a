/**
 * Peers: the same 2023.2 -> 2024.1 upgrade of a 3-node lab under the same client load, done three
 * ways, each on a fresh lab: an Ansible playbook written the way a careful operator writes it
 * (bench/peers/upgrade.yml), the kolla-style sequence (lab/sequences/kollaStyle.ts), and this
 * program's driver `up`. Every peer is measured the same way (bench/peers/measure.ts): wall time,
 * each node's time out of rotation as HAProxy saw it (polled every 100 ms), failed requests by kind
 * and cut downloads. Prints one side-by-side table and a RATIO line per goal.
 *
 * Exits 1 when a peer did not complete, the playbook did not really drain every node, or a node
 * does not run the target release with `db check` at 0 afterwards; a missed goal is printed, not fatal.
 *
 *   npm run build && node dist/bench/peers.js [--keep] [--only playbook|kolla|driver]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../driver/environment";
import { ansibleVenv } from "./peers/ansible";
import { measurePeer } from "./peers/measure";
import { driverProcedure, kollaProcedure, playbookProcedure } from "./peers/procedures";
import { failIfBroken, PeerResult, peersTable, ratioLines, wallTimeBound } from "./peers/render";
import { loadAverage, machineLine, printTable, progress, runBench } from "./support/report";

const KEEP = process.argv.includes("--keep");
/** `--only <peer>`: run one peer (to look at it); no table, no ratios. */
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const NODES = ["node-1", "node-2", "node-3"];

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`load average at start: ${loadAverage()}`);
  const runDir = path.join(
    PROJECT_ROOT,
    ".work",
    "bench",
    "peers",
    new Date().toISOString().replace(/[:.]/g, "-"),
  );
  fs.mkdirSync(runDir, { recursive: true });
  progress("ansible: scripts/setup-ansible.sh");
  const venv = ansibleVenv();

  const procedures = {
    playbook: playbookProcedure(venv, runDir),
    kolla: kollaProcedure(),
    driver: driverProcedure(KEEP),
  };
  if (ONLY !== undefined) {
    const one = Object.entries(procedures).find(([name]) => name === ONLY)?.[1];
    if (one === undefined) throw new Error(`--only takes one of ${Object.keys(procedures).join(", ")}`);
    const result = await measurePeer(one);
    if (result.problems.length > 0) process.exitCode = 1;
    return;
  }
  const results: PeerResult[] = [];
  for (const procedure of Object.values(procedures)) results.push(await measurePeer(procedure));
  const [playbook, kolla, ours] = results;

  const table = peersTable(results, NODES);
  printTable(
    "Peers: 3-node lab, 2023.2 -> 2024.1, same load client; out of rotation = HAProxy not UP (polled every 100 ms)",
    table.headers,
    table.rows,
  );
  console.log(`load average at end: ${loadAverage()}`);
  for (const ratio of ratioLines(ours, playbook, kolla, NODES)) console.log(ratio.line);
  const bound = wallTimeBound(ours, playbook);
  if (bound !== undefined) console.log(bound);

  failIfBroken(results);
}

runBench(main);
