/**
 * Peers: the same 2023.2 -> 2024.1 upgrade of a 3-node lab under the same client load, done three
 * ways, each on a fresh lab: an Ansible playbook written the way a careful operator writes it
 * (bench/peers/upgrade.yml), the kolla-style sequence (lab/sequences/kollaStyle.ts), and this
 * program's driver `up`. Every peer is measured the same way (bench/peers/measure.ts): wall time,
 * each node's time out of rotation as HAProxy saw it (polled every 100 ms), failed requests by kind
 * and cut downloads. Prints one side-by-side table and a RATIO line per goal.
 *
 * With `--alb`, the same on the ALB lab (lab/labAlb.ts; a fresh one per peer, deregistration delay
 * 30 s, health checks every 5 s, healthy threshold 2): the playbook leaves and rejoins the target
 * group with community.aws.elb_target (bench/peers/upgrade-alb.yml); the kolla-style sequence does
 * nothing with the ALB (kolla manages none), so only the group's health checks take a stopped node
 * out; the driver runs with the lab's ALB config (its drain ends when the node's work does). The load
 * goes through the ALB's listener, the verdict reads the ALB's request log, and out of rotation is
 * a target not `healthy` in DescribeTargetHealth (the data plane's own state, what it routes by),
 * polled every 100 ms.
 *
 * Exits 1 when a peer did not complete, the playbook did not really drain (or deregister and wait)
 * every node, or a node does not run the target release with `db check` at 0 afterwards; a missed
 * goal is printed, not fatal.
 *
 *   npm run build && node dist/bench/peers.js [--alb] [--keep] [--only playbook|kolla|driver]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../driver/environment";
import { ansibleVenv } from "./peers/ansible";
import { measurePeer } from "./peers/measure";
import { driverProcedure, kollaProcedure, playbookAlbProcedure, playbookProcedure } from "./peers/procedures";
import { failIfBroken, PeerResult, peersTable, ratioLines, wallTimeBound } from "./peers/render";
import { loadAverage, machineLine, printTable, progress, runBench } from "./support/report";

const KEEP = process.argv.includes("--keep");
/** `--only <peer>`: run one peer (to look at it); no table, no ratios. */
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const NODES = ["node-1", "node-2", "node-3"];
const ALB = process.argv.includes("--alb");
/** The ALB lab's target group (lab/labAlb.ts): health checks every 5 s, healthy threshold 2. */
const ALB_DELAY_SECONDS = 30;
const KOLLA_ALB_NOTE =
  "kolla-style on the ALB: no deregistration (kolla manages no ALB); the target group's health checks take a stopped node out";

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`load average at start: ${loadAverage()}`);
  const runDir = path.join(
    PROJECT_ROOT,
    ".work",
    "bench",
    "peers",
    (ALB ? "alb-" : "") + new Date().toISOString().replace(/[:.]/g, "-"),
  );
  if (ALB) {
    // moto (the lab ALB's ELBv2 API) wants credentials and checks none: lab-only values, for the
    // driver, the playbook's boto3 and the poller alike, never the operator's own.
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  }
  const measureOptions = ALB ? { alb: { deregistrationDelaySeconds: ALB_DELAY_SECONDS } } : {};
  fs.mkdirSync(runDir, { recursive: true });
  progress("ansible: scripts/setup-ansible.sh");
  const venv = ansibleVenv();

  const procedures = {
    playbook: ALB ? playbookAlbProcedure(venv, runDir) : playbookProcedure(venv, runDir),
    kolla: kollaProcedure(ALB ? KOLLA_ALB_NOTE : undefined),
    driver: driverProcedure(KEEP, ALB ? { loadBalancer: "alb", stackPrefix: "bench-peers-alb" } : {}),
  };
  if (ONLY !== undefined) {
    const one = Object.entries(procedures).find(([name]) => name === ONLY)?.[1];
    if (one === undefined) throw new Error(`--only takes one of ${Object.keys(procedures).join(", ")}`);
    const result = await measurePeer(one, measureOptions);
    if (result.problems.length > 0) process.exitCode = 1;
    return;
  }
  const results: PeerResult[] = [];
  for (const procedure of Object.values(procedures))
    results.push(await measurePeer(procedure, measureOptions));
  const [playbook, kolla, ours] = results;

  const table = peersTable(results, NODES, ALB ? "ALB" : "HAProxy");
  printTable(
    ALB
      ? `Peers on the ALB lab: 3 nodes, 2023.2 -> 2024.1, same load client; deregistration delay ${ALB_DELAY_SECONDS} s, ` +
          "health checks every 5 s, healthy threshold 2; out of rotation = target not healthy (DescribeTargetHealth, polled every 100 ms)"
      : "Peers: 3-node lab, 2023.2 -> 2024.1, same load client; out of rotation = HAProxy not UP (polled every 100 ms)",
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
