/**
 * The bake: a health check that answers 200 is not proof that a node serves images. After admission,
 * watch the node's real traffic for a window; over the error budget, or with a named CloudWatch alarm
 * in ALARM, take it back out and halt.
 */
import type { AlarmState, AlarmWatch } from "./aws/alarms";
import type { AwsTarget } from "./aws/clients";
import { Clock, clockOf, StepContext, StepError } from "./context";
import type { BakeWatch } from "./lb/loadBalancer";
import { loadBalancerFor } from "./lb/registry";
import { CapacityRefusal } from "./lb/takeOut";
import { BakeRequest, DEFAULT_BAKE_MIN_HEALTHY, StepSecrets } from "./protocol";

type BakeResult = { errors: number; seconds: number };

const TAKE_OUT_TIMEOUT_SECONDS = 30;

/**
 * Takes the node out of rotation again, if at least minHealthy others stay healthy: an alarm that
 * fires fleet-wide during an incident must not empty the fleet. A failure is said, never thrown: the
 * bake's own failure comes first. `left` is what the take-out left changed (none: still in rotation).
 */
async function takeOut(
  watch: BakeWatch,
  node: string,
  minHealthy: number,
): Promise<{ said: string; left?: string }> {
  try {
    const left = await watch.takeOut({ minHealthy, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS });
    return { said: left, left };
  } catch (error) {
    if (error instanceof CapacityRefusal && error.leftChanged === undefined) {
      const { servingOthers } = error.decision;
      return {
        said:
          `${node} stays IN rotation: taking it out would leave ${servingOthers.length} other healthy ` +
          `target(s) (${servingOthers.join(", ") || "none"}) and minHealthy is ${minHealthy}. If it must go ` +
          `whatever the capacity, take it out by hand`,
      };
    }
    const why = error instanceof Error ? error.message : String(error);
    const said = `taking it out of rotation FAILED (${why}): take it out by hand`;
    return { said, left: error instanceof StepError && error.leftChanged ? error.leftChanged : said };
  }
}

function alarmProblem(alarm: AlarmState): string {
  const since = alarm.since ? ` since ${alarm.since.toISOString()}` : "";
  return `CloudWatch alarm "${alarm.name}" is in ALARM${since} (${alarm.reason})`;
}

/** Starts the alarm watch before anything else: a name CloudWatch does not know stops the bake untouched. */
async function openAlarms(
  request: BakeRequest,
  region: AwsTarget,
  node: string,
  ctx: StepContext,
): Promise<AlarmWatch | undefined> {
  const names = request.alarmNames ?? [];
  if (names.length === 0) return undefined;
  try {
    // Loaded here, only for a bake with alarms: the AWS SDK costs the provider process 0.2-0.4 s.
    const { openAlarmWatch } = await import("./aws/alarms");
    return await openAlarmWatch(
      { alarmNames: names, intervalMs: request.alarmPollIntervalMs, ...region },
      ctx,
    );
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    throw new StepError(
      `bake of ${node} did not start: ${error.message}. ${node} stays admitted ` +
        `(the bake changed nothing); the chain halts: fix it, then rerun`,
    );
  }
}

/** The alarm in ALARM, if any; a failed read halts the bake with the node left admitted. */
async function trippedAlarm(
  alarms: AlarmWatch | undefined,
  final: boolean,
  node: string,
  elapsed: () => string,
): Promise<AlarmState | undefined> {
  if (!alarms) return undefined;
  try {
    return await alarms.check(final);
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    throw new StepError(
      `bake of ${node} stopped after ${elapsed()} s: ${error.message}. ${node} stays ` +
        `admitted (no alarm was in ALARM at the last read); the chain halts: rerun once CloudWatch answers, ` +
        `or take the node out by hand if it misbehaves`,
    );
  }
}

/** The bake window's clock. */
function bakeWindow(request: BakeRequest, clock: Clock) {
  const interval = request.pollIntervalMs ?? 500;
  const started = clock.now();
  const deadline = started + request.windowSeconds * 1000;
  return {
    elapsed: () => ((clock.now() - started) / 1000).toFixed(1),
    seconds: () => (clock.now() - started) / 1000,
    isFinal: () => clock.now() >= deadline,
    /** Sleeps until the next poll, never past the end of the window. */
    nap: () => clock.sleep(Math.min(interval, Math.max(0, deadline - clock.now()))),
  };
}

/** Reads the node until the window ends; over the budget, unhealthy or under an alarm, it comes out. */
async function watchThroughWindow(
  request: BakeRequest,
  node: string,
  watch: BakeWatch,
  alarms: AlarmWatch | undefined,
  ctx: StepContext,
): Promise<BakeResult> {
  const { elapsed, isFinal, seconds, nap } = bakeWindow(request, clockOf(ctx));
  ctx.log(
    `baking ${node} for ${request.windowSeconds} s${watch.terms(request.errorBudget, alarms !== undefined)}`,
  );
  let errorsSeen = 0;
  for (;;) {
    const final = isFinal();
    const { errors, counters, problem } = await watch.read();
    const overBudget = errors > request.errorBudget;
    if (errors !== errorsSeen && !overBudget) {
      // What the live view shows as the bake's error count (driver/view/render.ts: waitingFor).
      ctx.log(
        `bake at ${elapsed()} s: ${errors} error(s) (budget ${request.errorBudget})${counters ? `; ${counters}` : ""}`,
      );
      errorsSeen = errors;
    }
    const alarm = overBudget || problem ? undefined : await trippedAlarm(alarms, final, node, elapsed);
    if (overBudget || problem || alarm) {
      const why = overBudget
        ? `${counters} (budget ${request.errorBudget})`
        : alarm
          ? `${alarmProblem(alarm)}${counters ? ` (${counters})` : ""}`
          : problem;
      // When it failed, not when the take-out (up to its own 30 s) is over.
      const failedAfter = elapsed();
      const { said, left } = await takeOut(watch, node, request.minHealthy ?? DEFAULT_BAKE_MIN_HEALTHY);
      throw new StepError(
        `bake of ${node} failed after ${failedAfter} s: ${why}; ${said}; the chain halts`,
        left,
      );
    }
    if (final) {
      ctx.log(`bake passed: ${counters ?? `${node} stayed healthy`}${alarms ? "; no alarm in ALARM" : ""}`);
      return { errors, seconds: seconds() };
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
  const loadBalancer = loadBalancerFor(lb);
  const node = loadBalancer.nodeLabel(lb);
  const alarms = await openAlarms(request, loadBalancer.alarmRegion(lb), node, ctx);
  try {
    return await loadBalancer.watch(lb, secrets, ctx, (watch) =>
      watchThroughWindow(request, node, watch, alarms, ctx),
    );
  } finally {
    alarms?.close();
  }
}
