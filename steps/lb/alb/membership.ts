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
  TargetHealthDescription,
  waitUntilTargetDeregistered,
  waitUntilTargetInService,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { StepContext, StepError } from "../../context";
import { FleetMember, mayLeaveRotation, TargetState } from "../capacity";
import { CapacityRefusal, withFleetLock } from "../takeOut";
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

// Not "or lower minHealthy": minHealthy is in every drain's request, so editing it mid-upgrade
// would run the finished nodes' drains again (issue 30, finding 1).
const RAISE_CAPACITY = `Bring the other targets back to healthy, then rerun.`;

/** The target group as the capacity decision sees it: only `healthy` serves. */
export function albCapacity(group: TargetHealthDescription[], ref: AlbTargetRef & { minHealthy: number }) {
  const key = (d: TargetHealthDescription): string => `${d.Target?.Id}:${d.Target?.Port}`;
  const stateOf = (d: TargetHealthDescription): TargetState => {
    const state = d.TargetHealth?.State;
    if (state === "healthy") return "serving";
    if (state === "draining" || state === "unhealthy.draining") return "draining";
    return "down";
  };
  const fleet: FleetMember[] = group.map((d) => ({ name: key(d), state: stateOf(d) }));
  const self = group.find((d) => sameTarget(d, ref));
  // Once deregistered the target may no longer be listed: it is out, and still the node asked about.
  const selfName = self ? key(self) : `${ref.targetId}:${ref.port}`;
  if (!self) fleet.push({ name: selfName, state: "draining" });
  const decision = mayLeaveRotation(fleet, selfName, ref.minHealthy);
  const idOf = (name: string): string => group.find((d) => key(d) === name)?.Target?.Id ?? name;
  return { ...decision, servingOthers: decision.servingOthers.map(idOf) };
}

/** The look after leaving: too few others serve now, so the target is registered again and the drain refuses. */
async function checkStillEnough(
  client: ElasticLoadBalancingV2Client,
  args: AlbTargetRef & { minHealthy: number },
  label: string,
): Promise<void> {
  const tg = args.targetGroupArn;
  const out = `${label} was deregistered (OUT of rotation)`;
  const group = await awsCall("DescribeTargetHealth", tg, out, out, () => describeGroup(client, tg));
  const decision = albCapacity(group, args);
  if (decision.mayLeave) return;
  const why =
    `refusing to drain ${label}: once it was deregistered only ${decision.servingOthers.length} other ` +
    `target(s) in ${tg} were healthy and minHealthy is ${args.minHealthy}: another target left rotation at ` +
    `the same time. `;
  await awsCall("RegisterTargets", tg, out, out, () =>
    client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [targetOf(args)] })),
  );
  throw new CapacityRefusal(
    why + `It was registered again (back in rotation once its health checks pass). ${RAISE_CAPACITY}`,
    decision,
  );
}

/**
 * Takes a target out of rotation: refuses (changing nothing) when fewer than `minHealthy` other
 * targets are healthy, deregisters it (registering it again if, read right after, too few others
 * are: a drain elsewhere left at the same time), and returns once it has left `draining` (in-flight requests
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
    const start = Date.now();
    // Read, decide and deregister under the lock; then read again, and register it back if a drain
    // elsewhere took the group below minHealthy meanwhile (steps/lb/takeOut.ts).
    const self = await withFleetLock(`alb ${args.endpoint ?? args.region ?? ""} ${tg}`, async () => {
      const group = await awsCall("DescribeTargetHealth", tg, unchanged, undefined, () =>
        describeGroup(client, tg),
      );
      const self = await awsCall("DescribeTargetHealth", tg, unchanged, undefined, () =>
        describeTarget(client, args),
      );
      if (self.presence !== "registered") return self;
      const decision = albCapacity(group, args);
      if (!decision.mayLeave) {
        throw new CapacityRefusal(
          `refusing to drain ${label}: only ${decision.servingOthers.length} other target(s) in ${tg} are ` +
            `healthy and minHealthy is ${args.minHealthy}. Nothing was changed; ${label} stays in rotation ` +
            `(${self.health}). ${RAISE_CAPACITY}`,
          decision,
        );
      }
      await awsCall(
        "DeregisterTargets",
        tg,
        `${label} was last seen IN rotation (${self.health})`,
        undefined,
        () => client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [targetOf(args)] })),
      );
      await checkStillEnough(client, args, label);
      ctx.log(
        `deregistered ${label} (${decision.servingOthers.length} other healthy target(s) stay in rotation); ` +
          `waiting up to ${args.drainTimeoutSeconds} s for in-flight requests to drain`,
      );
      return self;
    });

    if (self.presence === "absent") {
      ctx.log(`${label} is not registered in ${tg}: already out of rotation`);
      return { drainSeconds: 0, alreadyOut: true };
    }
    if (self.presence === "draining") {
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
