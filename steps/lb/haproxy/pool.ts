/**
 * One server on every HAProxy instance of a load balancer (one instance is a list of one): read it,
 * set its state, and watch it until a condition holds everywhere. A runtime API that fails mid-step
 * is an InstanceLostError naming the instance, so the protocol can say where it left the server.
 */
import { pollUntil, StepError } from "../../context";
import type { HaproxyInstance } from "../haproxyEndpoints";
import { readBackendServers, runtimeCommand, ServerStat } from "../haproxyRuntime";

export interface HaproxyPoolServer {
  instances: HaproxyInstance[];
  backend: string;
  server: string;
  pollIntervalMs?: number;
}

/** Where the server was last seen on each instance. */
export type LastSeen = Map<HaproxyInstance, ServerStat>;

const DEFAULT_POLL_INTERVAL_MS = 100;

/** A runtime API failed while the step was under way: which instance, and why. */
export class InstanceLostError extends Error {
  constructor(
    readonly instance: HaproxyInstance,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export function serverName(ref: Pick<HaproxyPoolServer, "backend" | "server">): string {
  return `${ref.backend}/${ref.server}`;
}

/** A runtime API error in the words of this instance (a forwarded one is named by its host, not its local socket). */
function instanceError(instance: HaproxyInstance, error: unknown): string {
  const message = errorText(error);
  if (instance.remote === undefined) return message;
  const cause =
    instance.explainFailure() ?? message.split(": check that")[0].replaceAll(instance.api, instance.label);
  return (
    `HAProxy runtime API ${instance.label} did not answer through its ssh forward (${cause}); check that HAProxy ` +
    `runs there with "stats socket ${instance.remote.socket} level admin" and that ${instance.remote.user} may ` +
    `read and write that socket`
  );
}

export function findServer(
  ref: Pick<HaproxyPoolServer, "backend" | "server">,
  servers: ServerStat[],
): ServerStat {
  const stat = servers.find((s) => s.server === ref.server);
  if (stat === undefined) {
    throw new StepError(
      `HAProxy backend "${ref.backend}" has no server "${ref.server}" (servers: ` +
        `${servers.map((s) => s.server).join(", ") || "none"}); nothing was changed. ` +
        `Check the node's load-balancer server name in the stack config.`,
    );
  }
  return stat;
}

/** Every server of the backend on one instance; a failure is a StepError in that instance's words. */
export async function serversAt(instance: HaproxyInstance, backend: string): Promise<ServerStat[]> {
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
  const full = `set server ${serverName(ref)} ${command}`;
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

/** Runs `command` on each of `instances`, in parallel; the first failure is thrown once all have answered. */
export async function setStateOn(
  ref: HaproxyPoolServer,
  instances: HaproxyInstance[],
  command: string,
): Promise<void> {
  const outcomes = await Promise.allSettled(instances.map((i) => setState(ref, i, command)));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
}

/** Runs `command` on every instance; returns where it failed, and why. */
export async function setStateEverywhereSettled(
  ref: HaproxyPoolServer,
  command: string,
): Promise<Array<{ instance: HaproxyInstance; reason: string }>> {
  const outcomes = await Promise.allSettled(ref.instances.map((i) => setState(ref, i, command)));
  return outcomes.flatMap((outcome, index) =>
    outcome.status === "rejected"
      ? [{ instance: ref.instances[index], reason: errorText(outcome.reason) }]
      : [],
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `action`; a runtime API lost on the way goes to `onLost`, which reports where the server is and throws. */
export async function unlessLost<T>(
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

/**
 * Polls `instances` until `done` holds for the server on all of them. Updates `lastSeen` as it goes;
 * a runtime API failure throws InstanceLostError, a timeout or cancellation comes back as text
 * ending in `describe()`.
 */
export async function watchEverywhere(
  ref: HaproxyPoolServer,
  instances: HaproxyInstance[],
  lastSeen: LastSeen,
  opts: { deadline: number; signal?: AbortSignal; describe: () => string },
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
      describe: opts.describe,
    });
    return undefined;
  } catch (error) {
    if (error instanceof StepError) return error.message;
    throw error;
  }
}

/** "DRAIN with 1 session(s) open, check L7OK": a server's state as messages show it. */
export function describe(stat: ServerStat): string {
  const check = stat.checkStatus ? `, check ${stat.checkStatus}` : "";
  return `${stat.status} with ${stat.scur} session(s) open${check}`;
}

function shortState(stat: ServerStat): string {
  return `${stat.status} (${stat.scur} session${stat.scur === 1 ? "" : "s"})`;
}

/** "a: DRAIN (1 session); b: unreachable (last seen DRAIN (0 sessions))" for every instance. */
export function statesOf(
  ref: HaproxyPoolServer,
  seen: LastSeen,
  unreachable: Set<HaproxyInstance> = new Set(),
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
export async function currentStates(ref: HaproxyPoolServer, lastSeen: LastSeen): Promise<string> {
  const seen = new Map(lastSeen);
  const unreachable = new Set<HaproxyInstance>();
  await Promise.all(
    ref.instances.map(async (i) => {
      try {
        seen.set(i, findServer(ref, await readBackendServers(i.api, ref.backend)));
      } catch {
        unreachable.add(i);
      }
    }),
  );
  return statesOf(ref, seen, unreachable);
}
