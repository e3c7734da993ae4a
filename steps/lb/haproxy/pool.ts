/**
 * One server in every backend of every HAProxy instance of a load balancer (one backend on one
 * instance is a list of one): read it, set its state, and watch it until a condition holds everywhere. A runtime API that fails mid-step
 * is an InstanceLostError naming the instance, so the protocol can say where it left the server.
 */
import { Clock, pollUntil, StepError } from "../../context";
import type { HaproxyInstance } from "../haproxyEndpoints";
import { readBackendServers, runtimeCommand, ServerStat } from "../haproxyRuntime";

/**
 * One backend on one HAProxy instance: where the server is read and set. A load balancer with
 * several backends holding the node (kolla-ansible's internal and external Glance backends) has one
 * place per instance and backend, and every step acts on all of them.
 */
export interface HaproxyPlace extends HaproxyInstance {
  backend: string;
}

export interface HaproxyPoolServer {
  instances: HaproxyPlace[];
  server: string;
  pollIntervalMs?: number;
}

/**
 * Every backend on every instance, instance by instance. With several backends a place's label names
 * its backend, so messages say which one a state or a failure belongs to.
 */
export function placesOf(instances: HaproxyInstance[], backends: string[]): HaproxyPlace[] {
  return instances.flatMap((instance) =>
    backends.map((backend) => ({
      ...instance,
      backend,
      label: backends.length > 1 ? `${instance.label} backend ${backend}` : instance.label,
    })),
  );
}

/** The backends of the places, each once, in order. */
export function backendsAt(places: HaproxyPlace[]): string[] {
  return [...new Set(places.map((p) => p.backend))];
}

/** Where the server was last seen in each place. */
export type LastSeen = Map<HaproxyPlace, ServerStat>;

const DEFAULT_POLL_INTERVAL_MS = 100;

/** A runtime API failed while the step was under way: which instance, and why. */
export class InstanceLostError extends Error {
  constructor(
    readonly instance: HaproxyPlace,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** `backend/server`, as the runtime API's `set server` takes it. */
export function serverName(ref: { backend: string; server: string }): string {
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

export function findServer(ref: { backend: string; server: string }, servers: ServerStat[]): ServerStat {
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

/** Every server of the place's backend; a failure is a StepError in that instance's words. */
export async function serversAt(place: HaproxyPlace): Promise<ServerStat[]> {
  try {
    return await readBackendServers(place.api, place.backend);
  } catch (error) {
    throw new StepError(instanceError(place, error));
  }
}

/**
 * serversAt for a read taken once the server's state was changed: a failure is the instance lost, so
 * the step reports where it left the server (wording.ts lostWhileDraining), not only the failed read.
 */
export async function serversAtOrLost(place: HaproxyPlace): Promise<ServerStat[]> {
  try {
    return await readBackendServers(place.api, place.backend);
  } catch (error) {
    throw new InstanceLostError(place, instanceError(place, error));
  }
}

/** The server in the place's backend. */
export function serverIn(ref: HaproxyPoolServer, place: HaproxyPlace, servers: ServerStat[]): ServerStat {
  return findServer({ backend: place.backend, server: ref.server }, servers);
}

/** The server in every place, in order; an unreachable instance rejects with its label. */
export async function readServerEverywhere(ref: HaproxyPoolServer): Promise<ServerStat[]> {
  return Promise.all(ref.instances.map(async (i) => serverIn(ref, i, await serversAt(i))));
}

async function setState(ref: HaproxyPoolServer, instance: HaproxyPlace, command: string): Promise<void> {
  const full = `set server ${serverName({ backend: instance.backend, server: ref.server })} ${command}`;
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
  instances: HaproxyPlace[],
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
): Promise<Array<{ instance: HaproxyPlace; reason: string }>> {
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
  instances: HaproxyPlace[],
  lastSeen: LastSeen,
  opts: { deadline: number; clock: Clock; signal?: AbortSignal; describe: () => string },
  done: (stat: ServerStat) => boolean,
): Promise<string | undefined> {
  const probe = async (): Promise<true | undefined> => {
    const reads = await Promise.allSettled(
      instances.map(async (i) => {
        try {
          return serverIn(ref, i, await readBackendServers(i.api, i.backend));
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
      timeoutMs: Math.max(0, opts.deadline - opts.clock.now()),
      intervalMs: ref.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      signal: opts.signal,
      clock: opts.clock,
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
  unreachable: Set<HaproxyPlace> = new Set(),
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
  const unreachable = new Set<HaproxyPlace>();
  await Promise.all(
    ref.instances.map(async (i) => {
      try {
        seen.set(i, serverIn(ref, i, await readBackendServers(i.api, i.backend)));
      } catch {
        unreachable.add(i);
      }
    }),
  );
  return statesOf(ref, seen, unreachable);
}
