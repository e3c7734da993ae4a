/**
 * The local rehearsal (`npm run rehearse`): a fresh lab on release A, then the driver's `up` on the
 * committed `local` stack to release B under continuous client load, then the summary. The lab is
 * left up for inspection.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { runGlanceNode } from "./glanceNode";
import { labDown, labUp } from "./lab";
import { readLabState, resolveLabDir } from "./state";
import { startLoad } from "./load/client";
import { readHaproxyLog } from "./load/haproxyLog";
import {
  describeViolations,
  drainStarts,
  labHaproxyLog,
  loadSummary,
  zeroFailureViolations,
} from "./load/verdict";
import * as fs from "node:fs";
import { readTimeline } from "../steps/record";
import { buildReport } from "../driver/report/model";
import { LOAD_FILE, readRun, REPORT_FILE, writeReportPage } from "../driver/report/records";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const DRIVER = path.join(PROJECT_ROOT, "dist", "driver", "cli.js");
const STACK = "local";
const LOAD_MARGIN_MS = 3_000;

const say = (line: string) => process.stdout.write(`[rehearse] ${line}\n`);

function driver(command: string, runDir?: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DRIVER, command, "--stack", STACK], {
      stdio: "inherit",
      cwd: PROJECT_ROOT,
      env: runDir === undefined ? process.env : { ...process.env, GRU_RUN_DIR: runDir },
    });
    child.on("close", (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  const dir = resolveLabDir();
  const existing = readLabState(dir);
  if (existing) {
    const versions = await Promise.all(existing.nodes.map((n) => runGlanceNode(dir, ["release", n.name])));
    if (versions.some((v) => v.stdout.trim() !== existing.fromRelease)) {
      say(`the lab at ${dir} was already upgraded: rebuilding it on ${existing.fromRelease}`);
      await labDown(dir, { purge: true });
    }
  }
  const started = Date.now();
  const lab = await labUp({ dir, outliveProcess: true });
  say(`lab up: ${lab.nodes.length} nodes on ${lab.fromRelease} behind ${lab.haproxy.frontendUrl}`);

  say("clearing the local stack's records of any earlier rehearsal (touches nothing in the lab)");
  if ((await driver("destroy")) !== 0) return 1;

  say(`starting the load client (list, upload, download through HAProxy)`);
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  await new Promise((resolve) => setTimeout(resolve, LOAD_MARGIN_MS));
  const runDir = path.join(PROJECT_ROOT, ".work", "rehearse", new Date().toISOString().replaceAll(":", "-"));
  fs.mkdirSync(runDir, { recursive: true });
  const code = await driver("up", runDir);
  await new Promise((resolve) => setTimeout(resolve, LOAD_MARGIN_MS));
  const report = await load.stop();

  // The same verdict the e2e tests assert: no failure, every kind of request, a clean HAProxy log,
  // and every drain found a download in flight to wait for.
  const haproxyLines = readHaproxyLog(labHaproxyLog(lab));
  const violations = zeroFailureViolations(report, {
    minRequests: 500,
    haproxyLines,
    drains: drainStarts(readTimeline(path.join(runDir, "timeline.jsonl"))),
  });
  // The load beside the run's records, and the report page drawn again with it: this run alone.
  fs.writeFileSync(
    path.join(runDir, LOAD_FILE),
    JSON.stringify({ startedAt: report.startedAt, perSecond: report.timeline }),
  );
  const page = writeReportPage(
    path.join(runDir, REPORT_FILE),
    buildReport({
      stack: STACK,
      runs: [readRun(runDir)],
      loads: [{ startedAt: report.startedAt, perSecond: report.timeline }],
    }),
  );
  say(`load: ${loadSummary(report)}`);
  for (const line of describeViolations(report, violations, haproxyLines)) say(`  ${line}`);
  say(
    violations.length === 0
      ? "the fleet served throughout: 0 failed requests, a clean HAProxy log, every drain waited for a download"
      : `the fleet did NOT serve throughout (${violations.length} problems above)`,
  );
  say(
    `total rehearsal time ${((Date.now() - started) / 1000).toFixed(1)} s; upgrade ${code === 0 ? "succeeded" : "FAILED"}`,
  );
  say(
    `the lab is still up: ${lab.haproxy.frontendUrl}; \`node dist/driver/cli.js report --stack local\` prints the summary again`,
  );
  say(`the report page (open it in a browser): ${page}`);
  say("tear it down with: node dist/lab/cli.js down   (add --purge to delete its data)");
  return code === 0 && violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`rehearse: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
