/**
 * ALB target-group membership: drain a target (capacity guard, deregister, wait until it leaves
 * `draining`), admit one (register, wait until `healthy`), and check the fleet before `db contract`.
 * Waiting uses the SDK v3 waiters with short delays: their default first delay is 15 s, which would
 * make every drain cost 15 s even when nothing is in flight.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  TargetDescription,
  TargetHealthDescription,
  waitUntilTargetDeregistered,
  waitUntilTargetInService,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { StepContext, StepError } from "../context";
import { AwsTarget, awsErrorName, describeAwsError, elbv2Client } from "../aws/clients";

export interface AlbTargetRef extends AwsTarget {
  targetGroupArn: string;
  /** Instance id (`i-…`), IP address or Lambda ARN, as registered in the target group. */
  targetId: string;
  /** Absent: the target group's port. */
  port?: number;
}

/** The SDK validates waiter delays in seconds; it rejects a minDelay of 0. */
const MIN_POLL_SECONDS = 0.25;
const DEFAULT_POLL_SECONDS = 1;

type Presence = "absent" | "draining" | "registered";

interface TargetView {
  presence: Presence;
  /** e.g. "healthy", or "unused (Target.InvalidState: Target is in the stopped state)". */
  health: string;
  healthy: boolean;
}

function targetLabel(ref: AlbTargetRef): string {
  return ref.port === undefined ? ref.targetId : `${ref.targetId}:${ref.port}`;
}

function targetOf(ref: AlbTargetRef): TargetDescription {
  return ref.port === undefined ? { Id: ref.targetId } : { Id: ref.targetId, Port: ref.port };
}

function sameTarget(d: TargetHealthDescription, ref: AlbTargetRef): boolean {
  return d.Target?.Id === ref.targetId && (ref.port === undefined || d.Target?.Port === ref.port);
}

function healthText(d: TargetHealthDescription | undefined): string {
  const h = d?.TargetHealth;
  if (h?.State === undefined) return "unknown";
  const why = [h.Reason, h.Description].filter(Boolean).join(": ");
  return why ? `${h.State} (${why})` : h.State;
}

function viewOf(d: TargetHealthDescription | undefined): TargetView {
  const state = d?.TargetHealth?.State;
  const presence: Presence =
    d === undefined || d.TargetHealth?.Reason === "Target.NotRegistered"
      ? "absent"
      : state === "draining" || state === "unhealthy.draining"
        ? "draining"
        : "registered";
  return { presence, health: healthText(d), healthy: state === "healthy" };
}

function assertPositive(name: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min) {
    throw new StepError(`${name} must be a number >= ${min}, got ${value}: fix the config`);
  }
}

/**
 * Runs one AWS call; an SDK failure becomes a StepError that names the call and where the target
 * was last seen, so the operator never has to guess whether it serves traffic.
 */
async function awsCall<T>(
  what: string,
  targetGroupArn: string,
  lastSeen: string,
  leftChanged: string | undefined,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StepError) throw error;
    if (awsErrorName(error) === "TargetGroupNotFoundException") {
      throw new StepError(
        `${what}: target group ${targetGroupArn} does not exist. ${lastSeen}. ` +
          `Check targetGroupArn and the region in the stack config.`,
        leftChanged,
      );
    }
    throw new StepError(
      `${what} failed: ${describeAwsError(error)}. ${lastSeen}. ` +
        `Check AWS credentials, region and endpoint, then rerun (the step is safe to rerun).`,
      leftChanged,
    );
  }
}

async function describeGroup(client: ElasticLoadBalancingV2Client, targetGroupArn: string) {
  const out = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return out.TargetHealthDescriptions ?? [];
}

async function describeTarget(client: ElasticLoadBalancingV2Client, ref: AlbTargetRef): Promise<TargetView> {
  try {
    const out = await client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: ref.targetGroupArn, Targets: [targetOf(ref)] }),
    );
    return viewOf(out.TargetHealthDescriptions?.find((d) => sameTarget(d, ref)));
  } catch (error) {
    // AWS answers InvalidTarget for an id it does not know at all: as absent as it gets.
    if (awsErrorName(error) === "InvalidTargetException") return viewOf(undefined);
    throw error;
  }
}

type WaitOutcome = { done: true } | { done: false; why: string };

/**
 * Runs an SDK waiter for at least `timeoutSeconds`: a waiter gives up as soon as its next delay would
 * pass `maxWaitTime`, i.e. up to `maxDelay` early, so it gets that much more. TimeoutError/AbortError
 * become an outcome; anything else is an API failure.
 */
async function runWaiter(
  timeoutSeconds: number,
  maxDelay: number,
  wait: (maxWaitTime: number) => Promise<unknown>,
): Promise<WaitOutcome> {
  const start = Date.now();
  try {
    await wait(timeoutSeconds + maxDelay);
    return { done: true };
  } catch (error) {
    const name = awsErrorName(error);
    const after = `after ${elapsedSeconds(start)} s (limit ${timeoutSeconds} s)`;
    if (name === "TimeoutError") return { done: false, why: `not confirmed ${after}` };
    if (name === "AbortError") return { done: false, why: `cancelled while waiting, ${after}` };
    throw error;
  }
}

/** The last state for an error message; the API may be the very thing that failed. */
async function lastHealth(client: ElasticLoadBalancingV2Client, ref: AlbTargetRef): Promise<string> {
  try {
    return `last health: ${(await describeTarget(client, ref)).health}`;
  } catch (error) {
    return `its health could not be read: ${describeAwsError(error)}`;
  }
}

function elapsedSeconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 100) / 10;
}

/**
 * Takes a target out of rotation: refuses (changing nothing) when fewer than `minHealthy` other
 * targets are healthy, deregisters it, and returns once it has left `draining` (in-flight requests
 * done or the group's deregistration delay over). A target that is not registered is already out.
 */
export async function albDrain(
  args: AlbTargetRef & { minHealthy: number; drainTimeoutSeconds: number; pollIntervalSeconds?: number },
  ctx: StepContext,
): Promise<{ drainSeconds: number; alreadyOut: boolean }> {
  const pollSeconds = args.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS;
  assertPositive("minHealthy", args.minHealthy, 0);
  assertPositive("pollIntervalSeconds", pollSeconds, MIN_POLL_SECONDS);
  assertPositive("drainTimeoutSeconds", args.drainTimeoutSeconds, DEFAULT_POLL_SECONDS);
  const label = targetLabel(args);
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  try {
    const unchanged = `Nothing was changed; ${label} is where it was`;
    const group = await awsCall("DescribeTargetHealth", tg, unchanged, undefined, () =>
      describeGroup(client, tg),
    );
    const self = await awsCall("DescribeTargetHealth", tg, unchanged, undefined, () =>
      describeTarget(client, args),
    );

    if (self.presence === "absent") {
      ctx.log(`${label} is not registered in ${tg}: already out of rotation`);
      return { drainSeconds: 0, alreadyOut: true };
    }

    const start = Date.now();
    if (self.presence === "registered") {
      const healthyOthers = group.filter(
        (d) => !sameTarget(d, args) && d.TargetHealth?.State === "healthy",
      ).length;
      if (healthyOthers < args.minHealthy) {
        throw new StepError(
          `refusing to drain ${label}: only ${healthyOthers} other target(s) in ${tg} are healthy and ` +
            `minHealthy is ${args.minHealthy}. Nothing was changed; ${label} stays in rotation (${self.health}). ` +
            `Bring the other targets back to healthy (or lower minHealthy), then rerun.`,
        );
      }
      await awsCall(
        "DeregisterTargets",
        tg,
        `${label} was last seen IN rotation (${self.health})`,
        undefined,
        () => client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [targetOf(args)] })),
      );
      ctx.log(
        `deregistered ${label} (${healthyOthers} other healthy target(s) stay in rotation); ` +
          `waiting up to ${args.drainTimeoutSeconds} s for in-flight requests to drain`,
      );
    } else {
      ctx.log(`${label} is already draining; waiting up to ${args.drainTimeoutSeconds} s for it to finish`);
    }

    const leftChanged = `${label} deregistered from ${tg} (out of rotation), drain not confirmed`;
    const outcome = await awsCall(
      "waiting for the drain",
      tg,
      `${label} was last seen OUT of rotation (deregistered, draining)`,
      leftChanged,
      () =>
        runWaiter(args.drainTimeoutSeconds, pollSeconds, (maxWaitTime) =>
          waitUntilTargetDeregistered(
            {
              client,
              minDelay: MIN_POLL_SECONDS,
              maxDelay: pollSeconds,
              maxWaitTime,
              abortSignal: ctx.signal,
            },
            { TargetGroupArn: tg, Targets: [targetOf(args)] },
          ),
        ),
    );
    if (!outcome.done) {
      throw new StepError(
        `drain of ${label} ${outcome.why}: it is OUT of rotation (deregistered from ${tg}, no new requests) ` +
          `but its in-flight requests may not be done (${await lastHealth(client, args)}). ` +
          `Wait for them or raise drainTimeoutSeconds, then rerun (the rerun waits for the drain again).`,
        leftChanged,
      );
    }
    const drainSeconds = elapsedSeconds(start);
    ctx.log(`${label} drained in ${drainSeconds} s`);
    return { drainSeconds, alreadyOut: false };
  } finally {
    client.destroy();
  }
}

/**
 * Puts a target into rotation: registers it (unless it already is) and waits until it is `healthy`.
 * If it does not get there in time it is deregistered again, so a failing node stays out.
 */
export async function albAdmit(
  args: AlbTargetRef & { healthTimeoutSeconds: number },
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  assertPositive("healthTimeoutSeconds", args.healthTimeoutSeconds, DEFAULT_POLL_SECONDS);
  const label = targetLabel(args);
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  try {
    const self = await awsCall(
      "DescribeTargetHealth",
      tg,
      `Nothing was changed; ${label} is where it was`,
      undefined,
      () => describeTarget(client, args),
    );
    if (self.presence === "registered" && self.healthy) {
      ctx.log(`${label} is already registered and healthy in ${tg}`);
      return { admitSeconds: 0 };
    }

    const start = Date.now();
    if (self.presence === "registered") {
      ctx.log(
        `${label} is already registered (${self.health}); waiting up to ${args.healthTimeoutSeconds} s for healthy`,
      );
    } else {
      await awsCall(
        "RegisterTargets",
        tg,
        `${label} was last seen OUT of rotation (${self.health})`,
        undefined,
        () => client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [targetOf(args)] })),
      );
      ctx.log(
        `registered ${label} in ${tg}; waiting up to ${args.healthTimeoutSeconds} s for it to pass health checks`,
      );
    }

    const outcome = await awsCall(
      "waiting for health",
      tg,
      `${label} was last seen registered but not yet healthy`,
      `${label} registered in ${tg}, not confirmed healthy`,
      () =>
        runWaiter(args.healthTimeoutSeconds, DEFAULT_POLL_SECONDS, (maxWaitTime) =>
          waitUntilTargetInService(
            {
              client,
              minDelay: MIN_POLL_SECONDS,
              maxDelay: DEFAULT_POLL_SECONDS,
              maxWaitTime,
              abortSignal: ctx.signal,
            },
            { TargetGroupArn: tg, Targets: [targetOf(args)] },
          ),
        ),
    );
    if (!outcome.done) {
      const health = await lastHealth(client, args);
      const where = await deregisterAfterFailedAdmit(client, args);
      ctx.log(`${label} did not become healthy; ${where.summary}`);
      throw new StepError(
        `admit of ${label} failed: healthy ${outcome.why} (${health}). ${where.summary}. ` +
          `Fix the node's health check (see the reason above), then rerun.`,
        where.leftChanged,
      );
    }
    const admitSeconds = elapsedSeconds(start);
    ctx.log(`${label} is healthy in ${tg} after ${admitSeconds} s`);
    return { admitSeconds };
  } finally {
    client.destroy();
  }
}

async function deregisterAfterFailedAdmit(
  client: ElasticLoadBalancingV2Client,
  ref: AlbTargetRef,
): Promise<{ summary: string; leftChanged?: string }> {
  const label = targetLabel(ref);
  try {
    await client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: ref.targetGroupArn, Targets: [targetOf(ref)] }),
    );
    return { summary: `It was deregistered again, so it is OUT of rotation` };
  } catch (error) {
    if (awsErrorName(error) === "InvalidTargetException")
      return { summary: `It is not registered: OUT of rotation` };
    return {
      summary:
        `Deregistering it again failed (${describeAwsError(error)}), so it may still be REGISTERED while unhealthy: ` +
        `deregister it by hand (aws elbv2 deregister-targets --target-group-arn ${ref.targetGroupArn} --targets Id=${ref.targetId})`,
      leftChanged: `${label} may still be registered in ${ref.targetGroupArn} while unhealthy`,
    };
  }
}

/**
 * The check before `db contract`: every registered target (draining ones included, they may still
 * serve) is one of `expectedTargetIds`, and each expected one is healthy.
 */
export async function albFleetCheck(
  args: AwsTarget & { targetGroupArn: string; expectedTargetIds: string[] },
  ctx: StepContext,
): Promise<{ targets: string[] }> {
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  try {
    const group = await awsCall("DescribeTargetHealth", tg, "Nothing was changed", undefined, () =>
      describeGroup(client, tg),
    );
    const registered = group.filter((d) => viewOf(d).presence !== "absent");
    const targets = [...new Set(registered.map((d) => d.Target?.Id ?? "?"))].sort();
    const expected = new Set(args.expectedTargetIds);
    const unexpected = targets.filter((id) => !expected.has(id));
    const notHealthy = args.expectedTargetIds
      .map((id) => {
        const entries = registered.filter((d) => d.Target?.Id === id);
        if (entries.length === 0) return `${id}: not registered`;
        const bad = entries.filter((d) => d.TargetHealth?.State !== "healthy");
        return bad.length === 0 ? undefined : `${id}: ${bad.map(healthText).join(", ")}`;
      })
      .filter((line): line is string => line !== undefined);

    const problems = [
      ...(unexpected.length > 0 ? [`target(s) outside the upgraded set: ${unexpected.join(", ")}`] : []),
      ...(notHealthy.length > 0 ? [`upgraded target(s) not healthy: ${notHealthy.join("; ")}`] : []),
    ];
    if (problems.length > 0) {
      throw new StepError(
        `fleet check of ${tg} failed: ${problems.join("; ")}. Nothing was changed. ` +
          `Remove or upgrade the unexpected targets and make every upgraded one healthy before the contract step.`,
      );
    }
    ctx.log(`fleet check of ${tg}: ${targets.length} target(s), all upgraded and healthy`);
    return { targets };
  } finally {
    client.destroy();
  }
}

/** The target's current health as the target group reports it (for the bake watch). */
export async function albTargetHealth(ref: AlbTargetRef): Promise<{ healthy: boolean; health: string }> {
  const view = await describeTarget(elbv2Client(ref), ref);
  return { healthy: view.healthy, health: view.health };
}
