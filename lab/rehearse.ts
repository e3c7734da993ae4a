/**
 * The local rehearsal (`npm run rehearse`): a fresh lab on release A, then the driver's `up` on the
 * committed `local` stack to release B under continuous client load, then the summary. The lab is
 * left up for inspection.
 *
 * `npm run rehearse -- --alb`: the same through the lab ALB (lab/labAlb.ts; a target group with a
 * deregistration delay of 30 s, health checks every 5 s, healthy threshold 2). Its target group's ARN
 * and instance ids are the lab's own, so its stack (`local-alb`) is written from lab.json into
 * .work/rehearse-alb/ on each rehearsal, its records cleared, never the committed stack files.
 */
import { execFileSync, spawn } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { runGlanceNode } from "./glanceNode";
import { isAlive } from "./processes";
import { labDown, labUp } from "./lab";
import { type LabState, readLabState, resolveLabDir } from "./state";
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
import { readTimeline, type TimelineEvent } from "../steps/record";
import { readAs } from "../steps/results";
import { engineRoot, LAB_PASSPHRASE } from "../driver/environment";
import { LAB_SECRETS, LOCAL_ALB_STACK_BAKE_SECONDS, labStackConfig } from "./stack";
import { setSecrets, writeStackFolder } from "./stackFile";
import { buildReport } from "../driver/report/model";
import { LOAD_FILE, readRun, REPORT_FILE, writeReportPage } from "../driver/report/records";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const DRIVER = path.join(PROJECT_ROOT, "dist", "driver", "cli.js");
const STACK = "local";
/** The ALB rehearsal's stack, in a folder of its own (its config is the lab's, written on each run). */
const ALB_STACK = "local-alb";
const ALB_STACK_FOLDER = path.join(PROJECT_ROOT, ".work", "rehearse-alb");
const LOAD_MARGIN_MS = 3_000;

const say = (line: string) => process.stdout.write(`[rehearse] ${line}\n`);

/** Where the driver runs: the committed `local` stack, or the ALB rehearsal's own. */
interface Target {
  stack: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

const HAPROXY_TARGET: Target = { stack: STACK, args: ["--stack", STACK], env: process.env };

function driver(target: Target, command: string, runDir?: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DRIVER, command, ...target.args], {
      stdio: "inherit",
      cwd: PROJECT_ROOT,
      env: runDir === undefined ? target.env : { ...target.env, GRU_RUN_DIR: runDir },
    });
    child.on("close", (code) => resolve(code ?? 1));
  });
}

/**
 * The `local-alb` stack for this lab's ALB, afresh: the old one's records removed (`stack rm` touches
 * nothing in the lab: the records are the steps'), its config written from lab.json, its secrets set
 * under the lab passphrase. moto wants AWS credentials and checks none: lab-only values, never the
 * operator's own.
 */
function albTarget(lab: LabState): Target {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_BACKEND_URL:
      process.env.PULUMI_BACKEND_URL ?? `file://${path.join(PROJECT_ROOT, ".work", "state")}`,
    PULUMI_CONFIG_PASSPHRASE: LAB_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  };
  delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  const pulumi = path.join(engineRoot(), "bin", "pulumi");
  const run = (args: string[]) => execFileSync(pulumi, args, { cwd: ALB_STACK_FOLDER, env, stdio: "pipe" });
  fs.mkdirSync(path.join(PROJECT_ROOT, ".work", "state"), { recursive: true });
  fs.rmSync(ALB_STACK_FOLDER, { recursive: true, force: true });
  writeStackFolder(
    PROJECT_ROOT,
    ALB_STACK_FOLDER,
    ALB_STACK,
    labStackConfig(lab, {
      transport: "local",
      loadBalancer: "alb",
      bakeSeconds: LOCAL_ALB_STACK_BAKE_SECONDS,
    }),
  );
  try {
    run(["stack", "rm", "--force", "--yes", "--preserve-config", "--stack", ALB_STACK]);
  } catch {
    // no such stack yet
  }
  run(["stack", "select", "--create", "--non-interactive", ALB_STACK]);
  setSecrets(pulumi, ALB_STACK_FOLDER, ALB_STACK, LAB_SECRETS, env);
  return { stack: ALB_STACK, args: ["--stack", ALB_STACK, "--work-dir", ALB_STACK_FOLDER], env };
}

/** Each finished drain's time, by node, from the run's timeline. */
function drainTimes(timeline: TimelineEvent[]): string[] {
  return timeline
    .filter((e) => e.event === "end" && e.kind === "drain" && e.node !== undefined)
    .map((e) => `${e.node} ${readAs("drain", e.result).drainSeconds ?? "?"} s`);
}

/** A lab to rebuild: upgraded by an earlier rehearsal, or (for --alb) with an ALB target not healthy. */
async function staleness(dir: string, existing: LabState, alb: boolean): Promise<string | undefined> {
  const versions = await Promise.all(existing.nodes.map((n) => runGlanceNode(dir, ["release", n.name])));
  if (versions.some((v) => v.stdout.trim() !== existing.fromRelease)) return "was already upgraded";
  if (!alb || existing.alb === undefined || !isAlive(existing.alb.pid, "albMain")) return undefined;
  const elbv2 = new ElasticLoadBalancingV2Client({
    region: existing.alb.region,
    endpoint: existing.alb.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const group = await elbv2
    .send(new DescribeTargetHealthCommand({ TargetGroupArn: existing.alb.targetGroupArn }))
    .then(
      (out) => out.TargetHealthDescriptions ?? [],
      () => [],
    )
    .finally(() => elbv2.destroy());
  const healthy = group.filter((d) => d.TargetHealth?.State === "healthy").length;
  return healthy === existing.nodes.length ? undefined : "has ALB targets out of rotation";
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { alb: { type: "boolean" } } });
  const withAlb = values.alb === true;
  const dir = resolveLabDir();
  const existing = readLabState(dir);
  if (existing) {
    const why = await staleness(dir, existing, withAlb);
    if (why !== undefined) {
      say(`the lab at ${dir} ${why}: rebuilding it on ${existing.fromRelease}`);
      await labDown(dir, { purge: true });
    }
  }
  const started = Date.now();
  const lab = await labUp({ dir, outliveProcess: true, ...(withAlb ? { alb: true } : {}) });
  const frontend = withAlb && lab.alb ? lab.alb.frontendUrl : lab.haproxy.frontendUrl;
  const lbName = withAlb ? "the lab ALB" : "HAProxy";
  say(`lab up: ${lab.nodes.length} nodes on ${lab.fromRelease} behind ${lbName} at ${frontend}`);

  const target = withAlb ? albTarget(lab) : HAPROXY_TARGET;
  if (withAlb) {
    say(
      `the ${ALB_STACK} stack (${ALB_STACK_FOLDER}) written for target group ${lab.alb?.targetGroupArn} ` +
        `(deregistration delay ${lab.alb?.deregistrationDelaySeconds} s), its earlier records removed`,
    );
  } else {
    say("clearing the local stack's records of any earlier rehearsal (touches nothing in the lab)");
    if ((await driver(target, "destroy")) !== 0) return 1;
  }

  say(`starting the load client (list, upload, download through ${lbName})`);
  const load = startLoad({ baseUrl: frontend, seedImages: lab.seedImages });
  await new Promise((resolve) => setTimeout(resolve, LOAD_MARGIN_MS));
  const runDir = path.join(PROJECT_ROOT, ".work", "rehearse", new Date().toISOString().replaceAll(":", "-"));
  fs.mkdirSync(runDir, { recursive: true });
  const code = await driver(target, "up", runDir);
  await new Promise((resolve) => setTimeout(resolve, LOAD_MARGIN_MS));
  const report = await load.stop();

  // The same verdict the e2e tests assert: no failure, every kind of request, a clean load balancer
  // log (the lab ALB's is in HAProxy's format), and every drain found a download in flight to wait for.
  const timeline = readTimeline(path.join(runDir, "timeline.jsonl"));
  const haproxyLines = readHaproxyLog(withAlb && lab.alb ? lab.alb.logPath : labHaproxyLog(lab));
  const violations = zeroFailureViolations(report, {
    minRequests: 500,
    haproxyLines,
    drains: drainStarts(timeline),
  });
  // The load beside the run's records, and the report page drawn again with it: this run alone.
  fs.writeFileSync(
    path.join(runDir, LOAD_FILE),
    JSON.stringify({ startedAt: report.startedAt, perSecond: report.timeline }),
  );
  const page = writeReportPage(
    path.join(runDir, REPORT_FILE),
    buildReport({
      stack: target.stack,
      runs: [readRun(runDir)],
      loads: [{ startedAt: report.startedAt, perSecond: report.timeline }],
    }),
  );
  say(`load: ${loadSummary(report)}`);
  for (const line of describeViolations(report, violations, haproxyLines)) say(`  ${line}`);
  say(
    violations.length === 0
      ? `the fleet served throughout: 0 failed requests, a clean ${withAlb ? "ALB" : "HAProxy"} log, every drain waited for a download`
      : `the fleet did NOT serve throughout (${violations.length} problems above)`,
  );
  if (withAlb) {
    say(
      `drain times: ${drainTimes(timeline).join(", ") || "none"} (the target group's deregistration delay: ` +
        `${lab.alb?.deregistrationDelaySeconds} s)`,
    );
  }
  say(
    `total rehearsal time ${((Date.now() - started) / 1000).toFixed(1)} s; upgrade ${code === 0 ? "succeeded" : "FAILED"}`,
  );
  say(
    withAlb
      ? `the lab is still up: ${frontend}; \`node dist/driver/cli.js report ${target.args.join(" ")}\` ` +
          `(with the lab passphrase in PULUMI_CONFIG_PASSPHRASE) prints the summary again`
      : `the lab is still up: ${frontend}; \`node dist/driver/cli.js report --stack local\` prints the summary again`,
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
