/**
 * The bake: a health check that answers 200 is not proof that a node serves images. After admission,
 * watch the node's real traffic for a window; over the error budget, or with a named CloudWatch alarm
 * in ALARM, take it back out and halt.
 */
import { AlarmState, AlarmWatch, openAlarmWatch } from "./aws/alarms";
import { StepContext, StepError } from "./context";
import type { LbTarget, StepSecrets } from "./dispatch";
import { albDrain } from "./lb/alb/membership";
import { albTargetHealth } from "./lb/alb/targetGroup";
import { HaproxyInstance, withHaproxyInstances } from "./lb/haproxyEndpoints";
import { haproxyDrainAll } from "./lb/haproxy/drain";
import { readServerEverywhere } from "./lb/haproxy/pool";
import { ServerStat } from "./lb/haproxyRuntime";

export interface BakeRequest {
  lb: LbTarget;
  windowSeconds: number;
  errorBudget: number;
  /**
   * CloudWatch alarms that must stay out of ALARM, read in the ALB's region through its endpoint
   * override (with HAProxy: the SDK's default region, e.g. AWS_REGION). Absent or empty: none.
   */
  alarmNames?: string[];
  pollIntervalMs?: number;
  alarmPollIntervalMs?: number;
}

type BakeResult = { errors: number; seconds: number };

const TAKE_OUT_TIMEOUT_SECONDS = 30;

type Counters = { hrsp5xx: number; eresp: number; econ: number };

/** The error counters summed over every HAProxy instance (each counts only what passed through it). */
function errorCounters(stats: ServerStat[]): Counters {
  return stats.reduce<Counters>(
    (sum, stat) => ({
      hrsp5xx: sum.hrsp5xx + stat.hrsp5xx,
      eresp: sum.eresp + stat.eresp,
      econ: sum.econ + stat.econ,
    }),
    { hrsp5xx: 0, eresp: 0, econ: 0 },
  );
}

async function takeOut(
  lb: LbTarget,
  instances: HaproxyInstance[] | undefined,
  ctx: StepContext,
): Promise<string> {
  try {
    if (lb.type === "haproxy") {
      await haproxyDrainAll(
        { ...lb, instances: instances ?? [], minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS },
        ctx,
      );
      return `${lb.server} is out of rotation (MAINT)`;
    }
    await albDrain({ ...lb, minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS }, ctx);
    return `${lb.targetId} is deregistered`;
  } catch (error) {
    return `taking it out of rotation FAILED (${error instanceof Error ? error.message : String(error)}): take it out by hand`;
  }
}

function nodeLabel(lb: LbTarget): string {
  return lb.type === "haproxy" ? lb.server : lb.targetId;
}

function alarmProblem(alarm: AlarmState): string {
  const since = alarm.since ? ` since ${alarm.since.toISOString()}` : "";
  return `CloudWatch alarm "${alarm.name}" is in ALARM${since} (${alarm.reason})`;
}

/** Starts the alarm watch before anything else: a name CloudWatch does not know stops the bake untouched. */
async function openAlarms(request: BakeRequest, ctx: StepContext): Promise<AlarmWatch | undefined> {
  const names = request.alarmNames ?? [];
  if (names.length === 0) return undefined;
  const { lb } = request;
  try {
    return await openAlarmWatch(
      {
        alarmNames: names,
        intervalMs: request.alarmPollIntervalMs,
        ...(lb.type === "alb" ? { region: lb.region, endpoint: lb.endpoint } : {}),
      },
      ctx,
    );
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    throw new StepError(
      `bake of ${nodeLabel(lb)} did not start: ${error.message}. ${nodeLabel(lb)} stays admitted ` +
        `(the bake changed nothing); the chain halts: fix it, then rerun`,
    );
  }
}

/** The alarm in ALARM, if any; a failed read halts the bake with the node left admitted. */
async function trippedAlarm(
  alarms: AlarmWatch | undefined,
  final: boolean,
  lb: LbTarget,
  elapsed: () => string,
): Promise<AlarmState | undefined> {
  if (!alarms) return undefined;
  try {
    return await alarms.check(final);
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    throw new StepError(
      `bake of ${nodeLabel(lb)} stopped after ${elapsed()} s: ${error.message}. ${nodeLabel(lb)} stays ` +
        `admitted (no alarm was in ALARM at the last read); the chain halts: rerun once CloudWatch answers, ` +
        `or take the node out by hand if it misbehaves`,
    );
  }
}

/** The bake window's clock, shared by both load balancers' watch loops. */
function bakeWindow(request: BakeRequest) {
  const interval = request.pollIntervalMs ?? 500;
  const started = Date.now();
  const deadline = started + request.windowSeconds * 1000;
  return {
    elapsed: () => ((Date.now() - started) / 1000).toFixed(1),
    seconds: () => (Date.now() - started) / 1000,
    isFinal: () => Date.now() >= deadline,
    /** Sleeps until the next poll, never past the end of the window. */
    nap: () =>
      new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now())))),
  };
}

async function bakeOnHaproxy(
  request: BakeRequest,
  lb: Extract<LbTarget, { type: "haproxy" }>,
  instances: HaproxyInstance[],
  alarms: AlarmWatch | undefined,
  ctx: StepContext,
): Promise<BakeResult> {
  const { elapsed, isFinal, seconds, nap } = bakeWindow(request);
  const pool = { instances, backend: lb.backend, server: lb.server };
  const base = errorCounters(await readServerEverywhere(pool));
  ctx.log(`baking ${lb.server} for ${request.windowSeconds} s (budget ${request.errorBudget} errors)`);
  for (;;) {
    const final = isFinal();
    const stats = await readServerEverywhere(pool);
    const now = errorCounters(stats);
    const delta = {
      hrsp5xx: now.hrsp5xx - base.hrsp5xx,
      eresp: now.eresp - base.eresp,
      econ: now.econ - base.econ,
    };
    const errors = delta.hrsp5xx + delta.eresp + delta.econ;
    const counters = `5xx responses +${delta.hrsp5xx}, response errors +${delta.eresp}, connection errors +${delta.econ}`;
    const notUp = stats.findIndex((stat) => !stat.status.startsWith("UP"));
    const alarm =
      errors > request.errorBudget || notUp >= 0 ? undefined : await trippedAlarm(alarms, final, lb, elapsed);
    if (errors > request.errorBudget || notUp >= 0 || alarm) {
      const where = instances.length > 1 && notUp >= 0 ? ` on HAProxy ${instances[notUp].label}` : "";
      const why =
        errors > request.errorBudget
          ? `${counters} (budget ${request.errorBudget})`
          : alarm
            ? `${alarmProblem(alarm)} (${counters})`
            : `its status turned ${stats[notUp].status}${where} (${counters})`;
      const left = await takeOut(lb, instances, ctx);
      throw new StepError(
        `bake of ${lb.server} failed after ${elapsed()} s: ${why}; ${left}; the chain halts`,
        left,
      );
    }
    if (final) {
      ctx.log(`bake passed: ${counters}${alarms ? "; no alarm in ALARM" : ""}`);
      return { errors, seconds: seconds() };
    }
    await nap();
  }
}

async function bakeOnAlb(
  request: BakeRequest,
  lb: Extract<LbTarget, { type: "alb" }>,
  alarms: AlarmWatch | undefined,
  ctx: StepContext,
): Promise<BakeResult> {
  const { elapsed, isFinal, seconds, nap } = bakeWindow(request);
  const alarmsToo = alarms ? " and its CloudWatch alarms out of ALARM" : "";
  ctx.log(`baking ${lb.targetId} for ${request.windowSeconds} s: it must stay healthy${alarmsToo}`);
  for (;;) {
    const final = isFinal();
    const health = await albTargetHealth(lb);
    const alarm = health.healthy ? await trippedAlarm(alarms, final, lb, elapsed) : undefined;
    if (!health.healthy || alarm) {
      const why = alarm ? alarmProblem(alarm) : `target turned ${health.health}`;
      const left = await takeOut(lb, undefined, ctx);
      throw new StepError(
        `bake of ${lb.targetId} failed after ${elapsed()} s: ${why}; ${left}; the chain halts`,
        left,
      );
    }
    if (final) {
      ctx.log(`bake passed: ${lb.targetId} stayed healthy${alarms ? "; no alarm in ALARM" : ""}`);
      return { errors: 0, seconds: seconds() };
    }
    await nap();
  }
}

export async function bakeNode(
  request: BakeRequest,
  secrets: Pick<StepSecrets, "sshPrivateKey">,
  ctx: StepContext,
): Promise<BakeResult> {
  const { lb } = request;
  const alarms = await openAlarms(request, ctx);
  try {
    if (lb.type === "haproxy") {
      return await withHaproxyInstances(lb.runtimeApis, secrets.sshPrivateKey, ctx, (instances) =>
        bakeOnHaproxy(request, lb, instances, alarms, ctx),
      );
    }
    return await bakeOnAlb(request, lb, alarms, ctx);
  } finally {
    alarms?.close();
  }
}
