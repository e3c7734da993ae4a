/**
 * ALB target-group membership: drain a target (capacity guard, deregister, wait until it leaves
 * `draining`) and admit one (register, wait until `healthy`). Waiting uses the SDK v3 waiters with
 * short delays: their default first delay is 15 s, which would make every drain cost 15 s even when
 * nothing is in flight.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  TargetHealthDescription,
  waitUntilTargetInService,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { Clock, clockOf, pollUntil, StepContext, StepError, WaitTimeout } from "../../context";
import type { Drained, IdleProbe } from "../loadBalancer";
import { DrainMemory, DrainObservation, drainStep, MIN_IDLE_SPAN_MS } from "./drainEnd";
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
  TargetView,
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
  waiter: typeof waitUntilTargetInService,
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

/** How much longer than the group's delay an admit waits for a target to leave `draining`. */
const DRAINING_GRACE_SECONDS = 10;

/** With idle detection the drain looks twice a second: it ends within about a second of the work. */
const IDLE_POLL_MS = 500;

/** What the drain loop reads; albDrain reads the target group and the node, a test fakes both. */
export interface DrainSources {
  /** The target as the target group shows it (steps/lb/alb/drainEnd.ts). */
  target(): Promise<DrainObservation["target"]>;
  idle?: IdleProbe;
}

export type DrainEnd =
  { end: "idle"; idleAtMs: number } | { end: "unused" } | { end: "timeout"; lastConnections?: number };

/**
 * Looks at the draining target (and, with an idle probe, at the node's connections) until the rule
 * of steps/lb/alb/drainEnd.ts ends the drain. A probe that fails is logged once and counts as not
 * idle: the drain then ends when the target leaves `draining`, as without a probe.
 */
export async function waitForDrainEnd(
  sources: DrainSources,
  rule: { startMs: number; deadlineMs: number },
  pollMs: number,
  ctx: StepContext,
): Promise<DrainEnd> {
  const clock = clockOf(ctx);
  const full = { ...rule, propagationMs: (sources.idle?.propagationSeconds ?? 0) * 1000 };
  let memory: DrainMemory = {};
  let probeFailed = false;
  let lastConnections: number | undefined;
  for (;;) {
    if (ctx.signal?.aborted) return { end: "timeout", lastConnections };
    const nowMs = clock.now();
    const target = await sources.target();
    let connections: number | undefined;
    if (sources.idle) {
      try {
        connections = await sources.idle.connections();
        lastConnections = connections;
      } catch (error) {
        if (!probeFailed) {
          ctx.log(
            `could not read the node's connections (${error instanceof Error ? error.message : String(error)}): ` +
              `waiting for the target to leave draining instead`,
          );
        }
        probeFailed = true;
      }
    }
    const verdict = drainStep(full, memory, { nowMs, target, connections });
    if (verdict.end === "timeout") return { end: "timeout", lastConnections };
    if (verdict.end !== "wait") return verdict;
    memory = verdict.memory;
    await clock.sleep(
      nextLookIn(memory, clock.now(), rule.startMs + full.propagationMs, pollMs, !!sources.idle),
    );
  }
}

/**
 * When to look next: MIN_IDLE_SPAN_MS after a first idle reading (the second of the pair, at the
 * earliest it may count); at T0 + P exactly when that comes before the next poll (the first reading
 * that may count); else after `pollMs`. Each sleep starts after a look's reads, so readings are at
 * least the sleep apart.
 */
function nextLookIn(
  memory: DrainMemory,
  nowMs: number,
  settleAtMs: number,
  pollMs: number,
  probing: boolean,
) {
  if (!probing) return pollMs;
  if (memory.idleSinceMs !== undefined) return MIN_IDLE_SPAN_MS;
  if (nowMs < settleAtMs) return Math.min(pollMs, settleAtMs - nowMs);
  return pollMs;
}

/** The target as the drain rule sees it. */
function drainView(view: TargetView): DrainObservation["target"] {
  if (view.presence === "draining") return "draining";
  if (view.presence === "absent" || view.health.startsWith("unused")) return "gone";
  return "in-rotation";
}

/**
 * Takes a target out of rotation: refuses (changing nothing) when fewer than `minHealthy` other
 * targets are healthy, deregisters it (registering it again if, read right after, too few others
 * are: a drain elsewhere left at the same time), and returns once it has left `draining` (in-flight requests
 * done or the group's deregistration delay over), or, with an idle probe, once the node has been idle
 * after the propagation lag (steps/lb/alb/drainEnd.ts). A target that is not registered is already out.
 */
export async function albDrain(
  args: AlbTargetRef & {
    minHealthy: number;
    drainTimeoutSeconds: number;
    pollIntervalSeconds?: number;
    idle?: IdleProbe;
  },
  ctx: StepContext,
): Promise<Drained> {
  const pollSeconds = args.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS;
  assertPositive("minHealthy", args.minHealthy, 0);
  assertPositive("pollIntervalSeconds", pollSeconds, MIN_POLL_SECONDS);
  assertPositive("drainTimeoutSeconds", args.drainTimeoutSeconds, DEFAULT_POLL_SECONDS);
  if (args.idle) assertPositive("propagationSeconds", args.idle.propagationSeconds, 0);
  const label = targetLabel(args);
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  const clock = clockOf(ctx);
  try {
    const unchanged = `Nothing was changed; ${label} is where it was`;
    const start = clock.now();
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
          `waiting up to ${args.drainTimeoutSeconds} s for in-flight requests to drain` +
          (args.idle ? ` (or until the node is idle after ${args.idle.propagationSeconds} s)` : ""),
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
    // T0: DeregisterTargets answered, or (a rerun on a target already draining) now, as the rerun
    // cannot know when the first one deregistered it.
    const deregisteredAt = clock.now();

    const leftChanged = `${label} deregistered from ${tg} (out of rotation), drain not confirmed`;
    const sources: DrainSources = {
      target: async () => drainView(await describeTarget(client, args)),
      ...(args.idle ? { idle: args.idle } : {}),
    };
    const ended = await awsCall(
      "waiting for the drain",
      tg,
      `${label} was last seen OUT of rotation (deregistered, draining)`,
      leftChanged,
      () =>
        waitForDrainEnd(
          sources,
          { startMs: deregisteredAt, deadlineMs: start + args.drainTimeoutSeconds * 1000 },
          args.idle ? Math.min(IDLE_POLL_MS, pollSeconds * 1000) : pollSeconds * 1000,
          ctx,
        ),
    );
    if (ended.end === "timeout") {
      const why = ctx.signal?.aborted
        ? `cancelled while waiting, after ${secondsSince(clock, start)} s`
        : `not confirmed after ${secondsSince(clock, start)} s (limit ${args.drainTimeoutSeconds} s)`;
      const connections =
        ended.lastConnections === undefined
          ? ""
          : `; ${ended.lastConnections} connection(s) open on the node`;
      throw new StepError(
        `drain of ${label} ${why}: it is OUT of rotation (deregistered from ${tg}, no new requests) ` +
          `but its in-flight requests may not be done (${await lastHealth(client, args)}${connections}). ` +
          `Wait for them or raise drainTimeoutSeconds, then rerun (the rerun waits for the drain again).`,
        leftChanged,
        ctx.signal?.aborted ? undefined : "DrainTimeout",
      );
    }
    const drainSeconds = secondsSince(clock, start);
    if (ended.end === "idle") {
      const idleAtSeconds = Math.round((ended.idleAtMs - start) / 100) / 10;
      ctx.log(
        `${label} drained in ${drainSeconds} s: no connection on the node from ${idleAtSeconds} s ` +
          `(it stays draining in the target group until its deregistration delay is over)`,
      );
      return { drainSeconds, alreadyOut: false, endedBy: "idle", idleAtSeconds };
    }
    ctx.log(`${label} drained in ${drainSeconds} s`);
    return { drainSeconds, alreadyOut: false, ...(args.idle ? { endedBy: "unused" as const } : {}) };
  } finally {
    client.destroy();
  }
}

function secondsSince(clock: Clock, startMs: number): number {
  return Math.round((clock.now() - startMs) / 100) / 10;
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
    if (self.presence === "draining") await waitOutOfDraining(client, args, ctx);
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

/** Seconds the group keeps a deregistered target `draining`; undefined when it cannot be read. */
async function deregistrationDelaySeconds(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
): Promise<number | undefined> {
  try {
    const out = await client.send(
      new DescribeTargetGroupAttributesCommand({ TargetGroupArn: targetGroupArn }),
    );
    const value = out.Attributes?.find((a) => a.Key === "deregistration_delay.timeout_seconds")?.Value;
    const seconds = value === undefined ? NaN : Number(value);
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A drain that ended early (the node idle) leaves the target `draining` until the group's delay is
 * over. AWS does not say what registering a target that is still `draining` does, so the admit waits
 * for it to leave `draining` first (bounded by the delay, or healthTimeoutSeconds when the delay cannot
 * be read), and registers it only then. Nothing is changed when it does not leave in time.
 */
async function waitOutOfDraining(
  client: ElasticLoadBalancingV2Client,
  args: AlbTargetRef & { healthTimeoutSeconds: number },
  ctx: StepContext,
): Promise<void> {
  const label = targetLabel(args);
  const tg = args.targetGroupArn;
  const delay = await deregistrationDelaySeconds(client, tg);
  const boundSeconds = delay === undefined ? args.healthTimeoutSeconds : delay + DRAINING_GRACE_SECONDS;
  ctx.log(
    `${label} is still draining in ${tg}; waiting up to ${boundSeconds} s for that to end before registering it`,
  );
  const lastSeen = `Nothing was changed; ${label} is OUT of rotation (draining)`;
  try {
    await pollUntil(
      async () => {
        const view = await awsCall("DescribeTargetHealth", tg, lastSeen, undefined, () =>
          describeTarget(client, args),
        );
        return view.presence === "draining" ? undefined : view;
      },
      {
        timeoutMs: boundSeconds * 1000,
        intervalMs: DEFAULT_POLL_SECONDS * 1000,
        signal: ctx.signal,
        clock: ctx.clock,
        describe: () => `${label} to leave draining`,
      },
    );
  } catch (error) {
    if (!(error instanceof WaitTimeout)) throw error;
    throw new StepError(
      `admit of ${label}: it is still draining in ${tg} after ${boundSeconds} s, and registering a target ` +
        `that is still draining is not something AWS documents. ${lastSeen}. ` +
        `Rerun once describe-target-health no longer shows it draining.`,
    );
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
