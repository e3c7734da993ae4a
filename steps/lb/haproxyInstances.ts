/**
 * HAProxy membership across every instance of one load balancer (an active/standby pair or more):
 * the capacity guard counts the worst instance, a drain puts the server in DRAIN everywhere and waits
 * for its sessions to end everywhere before MAINT, an admit waits for the health checks of every
 * instance. One directly reachable instance keeps the single-instance steps of ./haproxy.
 */
import { pollUntil, StepContext, StepError } from "../context";
import {
  DrainOutcome,
  findServer,
  fleetProblems,
  haproxyAdmit,
  haproxyDrain,
  haproxyFleetCheck,
} from "./haproxy";
import { HaproxyInstance, RuntimeEndpoint, withHaproxyInstances } from "./haproxyEndpoints";
import { readBackendServers, runtimeCommand, ServerStat } from "./haproxyRuntime";

export interface HaproxyPoolServer {
  instances: HaproxyInstance[];
  backend: string;
  server: string;
  pollIntervalMs?: number;
}

const DEFAULT_POLL_INTERVAL_MS = 100;

/** A runtime API failed while the step was under way: which instance, and why. */
class InstanceLostError extends Error {
  constructor(
    readonly instance: HaproxyInstance,
    readonly reason: string,
  ) {
    super(reason);
  }
}

function isDirect(instance: HaproxyInstance): boolean {
  return instance.api === instance.label;
}

/** A runtime API error in the words of this instance (a forwarded one is named by its host, not its local socket). */
function instanceError(instance: HaproxyInstance, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (instance.remote === undefined) return message;
  const cause =
    instance.explainFailure() ?? message.split(": check that")[0].replaceAll(instance.api, instance.label);
  return (
    `HAProxy runtime API ${instance.label} did not answer through its ssh forward (${cause}); check that HAProxy ` +
    `runs there with "stats socket ${instance.remote.socket} level admin" and that ${instance.remote.user} may ` +
    `read and write that socket`
  );
}

async function serversAt(instance: HaproxyInstance, backend: string): Promise<ServerStat[]> {
  try {
    return await readBackendServers(instance.api, backend);
  } catch (error) {
    throw new StepError(instanceError(instance, error));
  }
}

/** The server on every instance, in instance order; an unreachable instance rejects with its label. */
export async function readServerEverywhere(ref: HaproxyPoolServer): Promise<ServerStat[]> {
  return Promise.all(ref.instances.map(async (i) => findServer(ref, await serversAt(i, ref.backend))));
}

async function setState(ref: HaproxyPoolServer, instance: HaproxyInstance, command: string): Promise<void> {
  const full = `set server ${ref.backend}/${ref.server} ${command}`;
  let answer: string;
  try {
    answer = (await runtimeCommand(instance.api, full)).trim();
  } catch (error) {
    throw new InstanceLostError(instance, instanceError(instance, error));
  }
  if (answer !== "") {
    throw new StepError(
      `HAProxy ${instance.label} refused "${full}": ${answer}` +
        (/permission/i.test(answer) ? ` (the stats socket needs "level admin")` : ""),
    );
  }
}

/** Runs `action`; a runtime API lost on the way goes to `onLost`, which reports where the server is and throws. */
async function unlessLost<T>(
  action: () => Promise<T>,
  onLost: (error: InstanceLostError) => Promise<never>,
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof InstanceLostError) return onLost(error);
    throw error;
  }
}

/** Runs `command` on each of `instances`, in parallel; the first failure is thrown once all have answered. */
async function setStateOn(
  ref: HaproxyPoolServer,
  instances: HaproxyInstance[],
  command: string,
): Promise<void> {
  const outcomes = await Promise.allSettled(instances.map((i) => setState(ref, i, command)));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
}

/**
 * Polls every instance until `done` holds for the server on all of them. Updates `lastSeen` as it
 * goes; a runtime API failure throws InstanceLostError, a timeout or cancellation comes back as text.
 */
async function watchEverywhere(
  ref: HaproxyPoolServer,
  instances: HaproxyInstance[],
  lastSeen: Map<HaproxyInstance, ServerStat>,
  opts: { deadline: number; signal?: AbortSignal },
  done: (stat: ServerStat) => boolean,
): Promise<string | undefined> {
  const probe = async (): Promise<true | undefined> => {
    const reads = await Promise.allSettled(
      instances.map(async (i) => {
        try {
          return findServer(ref, await readBackendServers(i.api, ref.backend));
        } catch (error) {
          throw new InstanceLostError(i, instanceError(i, error));
        }
      }),
    );
    reads.forEach((r, index) => {
      if (r.status === "fulfilled") lastSeen.set(instances[index], r.value);
    });
    const lost = reads.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (lost) throw lost.reason;
    return instances.every((i) => done(lastSeen.get(i) as ServerStat)) ? true : undefined;
  };
  try {
    await pollUntil(probe, {
      timeoutMs: Math.max(0, opts.deadline - Date.now()),
      intervalMs: ref.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      signal: opts.signal,
      describe: () => statesOf(ref, lastSeen, new Map()),
    });
    return undefined;
  } catch (error) {
    if (error instanceof StepError) return error.message;
    throw error;
  }
}

function shortState(stat: ServerStat): string {
  return `${stat.status} (${stat.scur} session${stat.scur === 1 ? "" : "s"})`;
}

/** "a: DRAIN (1 session); b: unreachable (last seen DRAIN (0 sessions))" for every instance. */
function statesOf(
  ref: HaproxyPoolServer,
  seen: Map<HaproxyInstance, ServerStat>,
  unreachable: Map<HaproxyInstance, string>,
): string {
  return ref.instances
    .map((i) => {
      const stat = seen.get(i);
      const last = stat ? shortState(stat) : "unknown";
      return unreachable.has(i) ? `${i.label}: unreachable (last seen ${last})` : `${i.label}: ${last}`;
    })
    .join("; ");
}

/** A fresh look at every instance after a failure; what cannot be read keeps its last seen state. */
async function currentStates(
  ref: HaproxyPoolServer,
  lastSeen: Map<HaproxyInstance, ServerStat>,
): Promise<{ states: string; seen: Map<HaproxyInstance, ServerStat> }> {
  const seen = new Map(lastSeen);
  const unreachable = new Map<HaproxyInstance, string>();
  await Promise.all(
    ref.instances.map(async (i) => {
      try {
        seen.set(i, findServer(ref, await readBackendServers(i.api, ref.backend)));
      } catch (error) {
        unreachable.set(i, instanceError(i, error));
      }
    }),
  );
  return { states: statesOf(ref, seen, unreachable), seen };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export async function haproxyDrainAll(
  args: HaproxyPoolServer & { minHealthy: number; drainTimeoutSeconds: number },
  ctx: StepContext,
): Promise<DrainOutcome> {
  if (args.instances.length === 1 && isDirect(args.instances[0])) {
    return haproxyDrain({ ...args, runtimeApi: args.instances[0].api }, ctx);
  }
  const name = `${args.backend}/${args.server}`;
  const views = await Promise.all(
    args.instances.map(async (instance) => {
      const servers = await serversAt(instance, args.backend);
      return { instance, servers, target: findServer(args, servers) };
    }),
  );
  const lastSeen = new Map(views.map((v) => [v.instance, v.target]));
  const sessionsAtStart = views.reduce((sum, v) => sum + v.target.scur, 0);
  const pending = views.filter((v) => !v.target.status.startsWith("MAINT")).map((v) => v.instance);
  if (pending.length === 0) {
    ctx.log(`${name} is already in MAINT on every HAProxy instance; nothing to drain`);
    return { drainSeconds: 0, sessionsAtStart, alreadyOut: true, inRotationAtStart: false };
  }

  const capacity = views.map((v) => ({
    ...v,
    healthyOthers: v.servers.filter((s) => s.server !== args.server && s.status === "UP"),
  }));
  const worst = capacity.reduce((a, b) => (b.healthyOthers.length < a.healthyOthers.length ? b : a));
  if (worst.healthyOthers.length < args.minHealthy) {
    throw new StepError(
      `refusing to drain ${name}: HAProxy ${worst.instance.label} has only ${worst.healthyOthers.length} other ` +
        `healthy servers (${worst.healthyOthers.map((s) => s.server).join(", ") || "none"}), minHealthy is ` +
        `${args.minHealthy} (other servers UP per instance: ${capacity.map((c) => `${c.instance.label}: ${c.healthyOthers.length}`).join("; ")}); ` +
        `nothing was changed. Bring the other servers back UP on every instance (show stat on ${worst.instance.label}: ` +
        `${worst.servers.map((s) => `${s.server}=${s.status}`).join(", ")}) and rerun.`,
    );
  }

  const started = Date.now();
  const deadline = started + args.drainTimeoutSeconds * 1000;
  const lost = async (error: InstanceLostError, inState: string): Promise<never> => {
    const { states } = await currentStates(args, lastSeen);
    throw new StepError(
      `lost the HAProxy runtime API of ${error.instance.label} while draining ${name} (${error.reason}). ` +
        `Where each instance holds ${args.server}: ${states}. It takes no new requests from the instances that ` +
        `hold it in DRAIN or MAINT. Restore that runtime API and rerun: the drain resumes on every instance ` +
        `(or put it back by hand with "set server ${name} state ready" on each instance).`,
      `server ${name} left in ${inState} where reachable (${states})`,
    );
  };
  const waitForNoSessions = async (inState: "DRAIN" | "MAINT"): Promise<void> => {
    const stopped = await unlessLost(
      () =>
        watchEverywhere(
          args,
          args.instances,
          lastSeen,
          { deadline, signal: ctx.signal },
          (s) => s.scur === 0,
        ),
      (error) => lost(error, inState),
    );
    if (stopped === undefined) return;
    const states = statesOf(args, lastSeen, new Map());
    throw new StepError(
      `drain of ${name} did not finish within ${args.drainTimeoutSeconds} s (${stopped}); the server is left in ` +
        `${inState} on every instance with sessions still open, taking no new requests (${states}). Rerun to resume ` +
        `the drain once the long requests end (or raise drainTimeoutSeconds); "set server ${name} state ready" on ` +
        `each instance puts it back in rotation.`,
      `server ${name} left in ${inState} (${states})`,
    );
  };

  const nowIn = (status: string): void => {
    for (const i of pending) lastSeen.set(i, { ...(lastSeen.get(i) as ServerStat), status });
  };
  await unlessLost(
    () => setStateOn(args, pending, "state drain"),
    (error) => lost(error, "DRAIN"),
  );
  nowIn("DRAIN");
  ctx.log(
    `${name} set to DRAIN on ${plural(pending.length, "HAProxy instance")} with ${sessionsAtStart} session(s) in flight ` +
      `(${statesOf(args, lastSeen, new Map())}); waiting up to ${args.drainTimeoutSeconds} s`,
  );
  await waitForNoSessions("DRAIN");
  await unlessLost(
    () => setStateOn(args, pending, "state maint"),
    (error) => lost(error, "DRAIN or MAINT"),
  );
  nowIn("MAINT");
  // A session that arrived through persistence between the last poll and MAINT still finishes.
  await waitForNoSessions("MAINT");
  const drainSeconds = (Date.now() - started) / 1000;
  ctx.log(
    `${name} drained in ${drainSeconds.toFixed(2)} s and set to MAINT on ${plural(args.instances.length, "HAProxy instance")}`,
  );
  const inRotationAtStart = views.some((v) => v.target.status.startsWith("UP"));
  return { drainSeconds, sessionsAtStart, alreadyOut: false, inRotationAtStart };
}

export async function haproxyAdmitAll(
  args: HaproxyPoolServer & { healthTimeoutSeconds: number },
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  if (args.instances.length === 1 && isDirect(args.instances[0])) {
    return haproxyAdmit({ ...args, runtimeApi: args.instances[0].api }, ctx);
  }
  const name = `${args.backend}/${args.server}`;
  const before = await readServerEverywhere(args);
  const lastSeen = new Map(args.instances.map((i, index) => [i, before[index]]));
  const pending = args.instances.filter((_, index) => before[index].status !== "UP");
  if (pending.length === 0) {
    ctx.log(`${name} is already UP on every HAProxy instance; nothing to admit`);
    return { admitSeconds: 0 };
  }

  const started = Date.now();
  const deadline = started + args.healthTimeoutSeconds * 1000;
  // Everywhere it fails, the node goes back to MAINT on every instance: never half in rotation.
  const backToMaint = async (why: string): Promise<never> => {
    const outcomes = await Promise.allSettled(args.instances.map((i) => setState(args, i, "state maint")));
    const { states } = await currentStates(args, lastSeen);
    const notBack = args.instances.filter((_, index) => outcomes[index].status === "rejected");
    if (notBack.length > 0) {
      throw new StepError(
        `${name} was not admitted (${why}) and putting it back in MAINT failed on ${notBack.map((i) => i.label).join(", ")}; ` +
          `where each instance holds it: ${states}. Restore that runtime API, then rerun or set it to MAINT by hand.`,
        `server ${name} not back in MAINT everywhere (${states})`,
      );
    }
    ctx.log(`${name} put back in MAINT on every HAProxy instance`);
    throw new StepError(
      `${name} was not admitted (${why}); it was put back in MAINT on every HAProxy instance and stays out of ` +
        `rotation (${states}). Check the node's health endpoint and its logs, then rerun.`,
    );
  };
  const lostDuringAdmit = (error: InstanceLostError): Promise<never> =>
    backToMaint(`lost the HAProxy runtime API of ${error.instance.label}: ${error.reason}`);
  const waitForStatus = async (status: "DRAIN" | "UP"): Promise<void> => {
    const stopped = await unlessLost(
      () =>
        watchEverywhere(
          args,
          pending,
          lastSeen,
          { deadline, signal: ctx.signal },
          (s) => s.status === status,
        ),
      lostDuringAdmit,
    );
    if (stopped !== undefined) {
      await backToMaint(
        `it did not pass HAProxy's health check within ${args.healthTimeoutSeconds} s on every instance: ${stopped}`,
      );
    }
  };
  const setOnPending = (command: string): Promise<void> =>
    unlessLost(() => setStateOn(args, pending, command), lostDuringAdmit);

  // Via DRAIN with health forced down, each instance must see `rise` passing checks first (see ./haproxy).
  await setOnPending("state drain");
  await setOnPending("health down");
  ctx.log(
    `${name} in DRAIN with health forced down on ${plural(pending.length, "HAProxy instance")}; waiting for their health checks`,
  );
  await waitForStatus("DRAIN");
  await setOnPending("state ready");
  await waitForStatus("UP");
  const admitSeconds = (Date.now() - started) / 1000;
  ctx.log(
    `${name} passed the health checks of every HAProxy instance and is UP in rotation after ${admitSeconds.toFixed(2)} s`,
  );
  return { admitSeconds };
}

export async function haproxyFleetCheckAll(
  args: { instances: HaproxyInstance[]; backend: string; expectedServers: string[] },
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  if (args.instances.length === 1 && isDirect(args.instances[0])) {
    return haproxyFleetCheck({ ...args, runtimeApi: args.instances[0].api }, ctx);
  }
  const views = await Promise.all(
    args.instances.map(async (instance) => ({ instance, servers: await serversAt(instance, args.backend) })),
  );
  const problems = views.flatMap((v) =>
    fleetProblems(v.servers, args.expectedServers).map((p) => `${v.instance.label}: ${p}`),
  );
  if (problems.length > 0) {
    throw new StepError(
      `HAProxy backend "${args.backend}" is not exactly the upgraded fleet, all UP, on every instance: ` +
        `${problems.join("; ")}. Remove unexpected servers from the backend or add them to the fleet, bring every ` +
        `node UP on every instance, then rerun.`,
    );
  }
  ctx.log(
    `backend ${args.backend}: ${views[0].servers.length} servers, all expected and UP on ${plural(views.length, "HAProxy instance")}`,
  );
  return { servers: views[0].servers.map((s) => s.server) };
}

/** The membership of one node as a step request carries it. */
export interface HaproxyMembership {
  runtimeApis: RuntimeEndpoint[];
  backend: string;
  server: string;
}

export function drainFromHaproxy(
  args: HaproxyMembership & { minHealthy: number; drainTimeoutSeconds: number; pollIntervalMs?: number },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<DrainOutcome> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyDrainAll({ ...args, instances }, ctx),
  );
}

export function admitToHaproxy(
  args: HaproxyMembership & { healthTimeoutSeconds: number; pollIntervalMs?: number },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyAdmitAll({ ...args, instances }, ctx),
  );
}

export function checkHaproxyFleet(
  args: { runtimeApis: RuntimeEndpoint[]; backend: string; expectedServers: string[] },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyFleetCheckAll({ ...args, instances }, ctx),
  );
}
