/**
 * ALB target-group membership: drain a target (capacity guard, deregister, wait until it leaves
 * `draining`) and admit one (register, wait until `healthy`). Waiting uses the SDK v3 waiters with
 * short delays: their default first delay is 15 s, which would make every drain cost 15 s even when
 * nothing is in flight.
 */
import {
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  waitUntilTargetDeregistered,
  waitUntilTargetInService,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { StepContext, StepError } from "../../context";
import { awsErrorName, describeAwsError, elbv2Client } from "../../aws/clients";
import {
  AlbTargetRef,
  assertPositive,
  awsCall,
  describeGroup,
  describeTarget,
  elapsedSeconds,
  lastHealth,
  sameTarget,
  targetLabel,
  targetOf,
} from "./targetGroup";

/** The SDK validates waiter delays in seconds; it rejects a minDelay of 0. */
const MIN_POLL_SECONDS = 0.25;
const DEFAULT_POLL_SECONDS = 1;

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

/** Runs one of the SDK's target waiters on `ref` with short delays (see runWaiter). */
function waitFor(
  waiter: typeof waitUntilTargetDeregistered | typeof waitUntilTargetInService,
  client: ElasticLoadBalancingV2Client,
  ref: AlbTargetRef,
  timeoutSeconds: number,
  maxDelay: number,
  abortSignal: AbortSignal | undefined,
): Promise<WaitOutcome> {
  return runWaiter(timeoutSeconds, maxDelay, (maxWaitTime) =>
    waiter(
      { client, minDelay: MIN_POLL_SECONDS, maxDelay, maxWaitTime, abortSignal },
      { TargetGroupArn: ref.targetGroupArn, Targets: [targetOf(ref)] },
    ),
  );
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
        waitFor(waitUntilTargetDeregistered, client, args, args.drainTimeoutSeconds, pollSeconds, ctx.signal),
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
        waitFor(
          waitUntilTargetInService,
          client,
          args,
          args.healthTimeoutSeconds,
          DEFAULT_POLL_SECONDS,
          ctx.signal,
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
