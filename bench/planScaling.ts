/**
 * Plan scaling: the driver's `preview` of a fresh stack for 10, 50, 200 and 500 nodes, `exec: native`
 * over SSH, HAProxy membership, an existing NEW NODE. No node needs to exist for a preview: the node
 * addresses are loopback addresses nothing listens on. Time and peak memory of the driver's Node.js
 * process (which also hosts the inline program), and of the Pulumi CLI and provider processes.
 *
 *   npm run build && node dist/bench/planScaling.js [--sizes 10,50,200,500]
 */
import { labStackConfig, LAB_SECRETS, LabLayout } from "../lab/stack";
import { BenchStack, changeSummary, DriverRun } from "./support/benchStack";
import {
  machineLine,
  mebibytes,
  millis,
  printTable,
  progress,
  ratioLine,
  runBench,
  seconds,
} from "./support/report";

const SIZES = [10, 50, 200, 500];
const GOAL = 10;
/** A preview that takes longer is stopped and reported as such (the benchmark must end by itself). */
const PREVIEW_TIMEOUT_MS = 10 * 60_000;
const KEEP = process.argv.includes("--keep");

/** Node i's loopback address: 127.0.0.1 .. 127.0.1.246 for 500 nodes (no one listens there). */
function loopbackAddress(i: number): string {
  return `127.0.${Math.floor(i / 254)}.${(i % 254) + 1}`;
}

function previewConfig(nodes: number): Record<string, unknown> {
  const dir = "/var/tmp/gru-bench-plan-scaling";
  const layout: LabLayout = {
    dir,
    fromRelease: "2023.2",
    toRelease: "2024.1",
    glanceNodeBin: `${dir}/bin/glance-node`,
    ports: { mariadb: 3306, haproxyFrontend: 9292, haproxyRuntimeTcp: 9999, firstNode: 9292 },
    nodes: Array.from({ length: nodes }, (_, i) => ({
      name: `node-${i + 1}`,
      healthUrl: `http://${loopbackAddress(i)}:9292/healthcheck`,
    })),
    haproxy: { runtimeApi: `unix:${dir}/haproxy/admin.sock` },
  };
  const config = labStackConfig(layout, {
    transport: "ssh",
    ssh: { port: 22, user: "glance-ops", knownHostsFile: `${dir}/known_hosts` },
  });
  const configured = config.nodes as Array<Record<string, unknown>>;
  return { ...config, nodes: configured.map((node, i) => ({ ...node, address: loopbackAddress(i) })) };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args[args.indexOf("--sizes") + 1];
  const sizes = args.includes("--sizes") && sizesArg ? sizesArg.split(",").map(Number) : SIZES;
  console.log(machineLine());
  const runs = new Map<number, { run: DriverRun; steps: number }>();
  const rows: string[][] = [];
  for (const nodes of sizes) {
    const stack = new BenchStack(`bench-plan${nodes}`, previewConfig(nodes), LAB_SECRETS);
    try {
      progress(`preview of a fresh stack with ${nodes} nodes`);
      const run = await stack.driver("preview", PREVIEW_TIMEOUT_MS);
      const steps = run.stdout.split("\n").filter((l) => /^\s+\d+\. \S/.test(l)).length;
      if (run.code === 0) runs.set(nodes, { run, steps });
      const row = [
        String(nodes),
        String(steps),
        String(changeSummary(run.stdout).create ?? "-"),
        run.code === 0 ? seconds(run.wallMs) : `FAILED (exit ${run.code}) after ${seconds(run.wallMs)}`,
        run.phases.runbook === undefined ? "-" : seconds(run.phases.runbook),
        run.phases.engine === undefined ? "-" : seconds(run.phases.engine),
        millis(run.wallMs / nodes, 1),
        mebibytes(run.driverPeakKib),
        mebibytes(run.childPeaksKib.pulumi ?? 0),
        mebibytes(run.childPeaksKib["node (provider)"] ?? 0),
        `${(run.stdout.length / 1024).toFixed(0)} KiB`,
      ];
      rows.push(row);
      progress(`${nodes} nodes: ${row.join(" | ")}`);
      if (run.code !== 0) progress(`${nodes} nodes: ${run.stderr.slice(-500)}`);
    } finally {
      if (!KEEP) stack.remove();
    }
  }
  printTable(
    "Driver preview of a fresh stack (exec: native over SSH, HAProxy, existing NEW NODE; no live nodes)",
    [
      "nodes",
      "steps",
      "resources to create",
      "wall",
      "runbook at",
      "engine output at",
      "per node",
      "driver RSS peak",
      "pulumi CLI peak",
      "provider peak",
      "output",
    ],
    rows,
  );
  const small = runs.get(50);
  const large = runs.get(500);
  if (!large) console.log(`no completed preview of 500 nodes within ${PREVIEW_TIMEOUT_MS / 60_000} min`);
  if (small && large) {
    const perNode = (large.run.wallMs - small.run.wallMs) / 450;
    const perNodeKib = (large.run.driverPeakKib - small.run.driverPeakKib) / 450;
    console.log(
      `marginal cost per node (50 -> 500): ${millis(perNode, 1)} of preview time and ` +
        `${perNodeKib.toFixed(0)} KiB of driver memory`,
    );
    const ratio = large.run.wallMs / small.run.wallMs;
    ratioLine("preview(500)/preview(50)", ratio, `<= ${GOAL}`, ratio <= GOAL);
  }
}

runBench(main);
