/**
 * One peer on one fresh lab, measured like the others: the same load client from 3 s before to 3 s
 * after the procedure, the load balancer polled every 100 ms throughout, the same verdict on its
 * request log, and the same check afterwards that every node runs the target release and `db check`
 * exits 0. The load balancer is the lab's HAProxy, or (with `alb`) the lab ALB: the load goes through
 * its listener, its targets' health (DescribeTargetHealth) is polled, and its request log is judged.
 */
import { LabOptions, LabState } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import {
  describeViolations,
  DrainStart,
  labHaproxyLog,
  loadSummary,
  zeroFailureViolations,
} from "../../lab/load/verdict";
import { freshLab, removeLab } from "../../test/support/labFixture";
import { loadAverage, progress } from "../support/report";
import { PeerName, PeerResult } from "./render";
import { albTakesTraffic, RotationSample, serverRotation } from "./rotation";
import { RotationPoll, startAlbRotationPoll, startRotationPoll } from "./rotationPoller";
import { upgradeProblems } from "./verify";

const SETTLE_MS = 3_000;
const MIN_REQUESTS = 100;
const LAB_NODES = 3;

export interface ProcedureOutcome {
  wallMs: number;
  problems: string[];
  /** Each drain's start, for the verdict's "every drain had a download in flight" rule. */
  drains: DrainStart[];
  drainWaitMs: Record<string, number>;
  /** The time at least one of its steps ran (the driver's, from its timeline); see gaps.ts busyMs. */
  stepsBusyMs?: number;
  /** Checks that need the load balancer's polled series (the playbook's drain proof). */
  check?: (samples: RotationSample[]) => string[];
  /** Lines worth printing under the peer's result (its own timings). */
  notes?: string[];
}

export interface Procedure {
  peer: PeerName;
  run(lab: LabState): Promise<ProcedureOutcome>;
}

/** The polls' actual spacing: a slow answer (the ALB's goes through moto) stretches the 100 ms. */
export function meanSpacingMs(samples: RotationSample[]): number {
  if (samples.length < 2) return 0;
  return Math.round((samples[samples.length - 1].at - samples[0].at) / (samples.length - 1));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runGuarded(procedure: Procedure, lab: LabState): Promise<ProcedureOutcome> {
  const started = performance.now();
  try {
    return await procedure.run(lab);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      wallMs: performance.now() - started,
      problems: [`failed: ${message}`],
      drains: [],
      drainWaitMs: {},
    };
  }
}

/**
 * How the fresh lab is built: the peers bench uses the default ("switch"), bench/prestage.ts
 * "wheelhouse"; `alb`: with the lab ALB, through which the peer is measured instead of HAProxy.
 */
export type MeasureOptions = Pick<LabOptions, "upgradeMode"> & {
  alb?: { deregistrationDelaySeconds: number };
};

/** Where the load goes, what is polled and whose log the verdict reads. */
interface Balancer {
  name: string;
  frontendUrl: string;
  logPath: string;
  poll(): RotationPoll;
  takes?: (status: string) => boolean;
}

function balancerOf(lab: LabState, alb: boolean): Balancer {
  if (!alb)
    return {
      name: "HAProxy",
      frontendUrl: lab.haproxy.frontendUrl,
      logPath: labHaproxyLog(lab),
      poll: () => startRotationPoll(lab.haproxy.runtimeApi, lab.haproxy.backendName),
    };
  const labAlb = lab.alb;
  if (labAlb === undefined) throw new Error("the lab has no ALB");
  return {
    name: "ALB",
    frontendUrl: labAlb.frontendUrl,
    logPath: labAlb.logPath,
    poll: () => startAlbRotationPoll(labAlb),
    takes: albTakesTraffic,
  };
}

export async function measurePeer(procedure: Procedure, opts: MeasureOptions = {}): Promise<PeerResult> {
  progress(
    `${procedure.peer}: building a fresh ${LAB_NODES}-node lab` +
      (opts.upgradeMode ? ` (upgrade mode ${opts.upgradeMode})` : "") +
      (opts.alb ? ` with the lab ALB (deregistration delay ${opts.alb.deregistrationDelaySeconds} s)` : ""),
  );
  const lab = await freshLab(LAB_NODES, undefined, opts);
  try {
    const balancer = balancerOf(lab, opts.alb !== undefined);
    const poll = balancer.poll();
    const load = startLoad({ baseUrl: balancer.frontendUrl, seedImages: lab.seedImages });
    await sleep(SETTLE_MS);
    const loadAverageStart = loadAverage();
    progress(`${procedure.peer}: running (load average ${loadAverageStart})`);
    const outcome = await runGuarded(procedure, lab);
    await sleep(SETTLE_MS);
    const report = await load.stop();
    const { samples, errors } = await poll.stop();
    const problems = [
      ...outcome.problems,
      ...(outcome.check?.(samples) ?? []),
      ...(await upgradeProblems(lab)),
    ];
    if (errors > samples.length / 10)
      problems.push(`${errors} ${balancer.name} polls failed (${samples.length} answered)`);
    const haproxyLines = readHaproxyLog(balancer.logPath);
    const violations = zeroFailureViolations(report, {
      minRequests: MIN_REQUESTS,
      haproxyLines,
      drains: outcome.drains,
    });
    const rotation = lab.nodes.map((n) => serverRotation(samples, n.name, balancer.takes));
    console.log(
      `\n${procedure.peer}: ${(outcome.wallMs / 1000).toFixed(2)} s; ${samples.length} ${balancer.name} polls` +
        ` (${meanSpacingMs(samples)} ms apart on average)`,
    );
    console.log(`  load: ${loadSummary(report)}`);
    for (const r of rotation)
      console.log(
        `  ${r.server}: out of rotation ${(r.totalMs / 1000).toFixed(2)} s in ${r.intervals.length} stretch(es) ` +
          `(${r.intervals.map((i) => i.statuses.join(" > ")).join("; ") || "never out"})`,
      );
    for (const note of outcome.notes ?? []) console.log(`  ${note}`);
    for (const line of describeViolations(report, violations, haproxyLines).slice(0, 40))
      console.log(`  ${line}`);
    for (const problem of problems) console.log(`  PROBLEM: ${problem}`);
    return {
      peer: procedure.peer,
      wallMs: outcome.wallMs,
      problems,
      outOfRotationMs: Object.fromEntries(rotation.map((r) => [r.server, r.totalMs])),
      outIntervals: Object.fromEntries(rotation.map((r) => [r.server, r.intervals.length])),
      drainWaitMs: outcome.drainWaitMs,
      stepsBusyMs: outcome.stepsBusyMs,
      requests: report.requests,
      failures: report.failures,
      failuresByType: report.failuresByType,
      cutDownloads: report.cutDownloads,
      violations: violations.length,
      loadAverageStart,
      loadAverageEnd: loadAverage(),
    };
  } finally {
    await removeLab(lab);
  }
}
