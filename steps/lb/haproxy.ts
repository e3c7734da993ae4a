/**
 * HAProxy membership steps over the runtime API: drain a server out of rotation (waiting for its
 * in-flight sessions), admit it back once HAProxy's own health check passes, and check the fleet.
 */
import { pollUntil, StepContext, StepError } from "../context";
import { readBackendServers, runtimeCommand, ServerStat } from "./haproxyRuntime";

export interface HaproxyServerRef {
  /** `unix:/path/to/admin.sock` or `host:port` of a `stats socket ... level admin`. */
  runtimeApi: string;
  backend: string;
  server: string;
}

const DEFAULT_POLL_INTERVAL_MS = 100;

function label(ref: HaproxyServerRef): string {
  return `${ref.backend}/${ref.server}`;
}

function isInMaint(stat: ServerStat): boolean {
  return stat.status.startsWith("MAINT");
}

/** Raised by a probe when the runtime API fails mid-wait, so it is not mistaken for a timeout. */
class RuntimeLostError extends StepError {}

export function findServer(
  ref: Pick<HaproxyServerRef, "backend" | "server">,
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

export async function haproxyServerState(ref: HaproxyServerRef): Promise<ServerStat> {
  return findServer(ref, await readBackendServers(ref.runtimeApi, ref.backend));
}

async function setServerState(ref: HaproxyServerRef, command: string): Promise<void> {
  const full = `set server ${label(ref)} ${command}`;
  const answer = (await runtimeCommand(ref.runtimeApi, full)).trim();
  if (answer !== "") {
    throw new StepError(
      `HAProxy refused "${full}" at ${ref.runtimeApi}: ${answer}` +
        (/permission/i.test(answer) ? ` (the stats socket needs "level admin")` : ""),
    );
  }
}

/**
 * Polls the server until `accept` returns a value. A runtime API failure is reported with the
 * state the server was last seen in; a timeout or cancellation comes back as `undefined`.
 */
async function watchServer<T>(
  ref: HaproxyServerRef,
  opts: {
    timeoutMs: number;
    intervalMs: number;
    signal?: AbortSignal;
    lastSeen: ServerStat;
    leftChanged: string;
  },
  accept: (stat: ServerStat) => T | undefined,
): Promise<{ value: T } | { stopped: string; lastSeen: ServerStat }> {
  let lastSeen = opts.lastSeen;
  const probe = async (): Promise<T | undefined> => {
    try {
      lastSeen = await haproxyServerState(ref);
    } catch (err) {
      throw new RuntimeLostError(
        `lost the HAProxy runtime API while watching ${label(ref)} (last seen ${describe(lastSeen)}): ` +
          `${(err as Error).message}`,
        opts.leftChanged,
      );
    }
    return accept(lastSeen);
  };
  try {
    const value = await pollUntil(probe, {
      timeoutMs: opts.timeoutMs,
      intervalMs: opts.intervalMs,
      signal: opts.signal,
      describe: () => `${label(ref)} is ${describe(lastSeen)}`,
    });
    return { value };
  } catch (err) {
    if (err instanceof RuntimeLostError || !(err instanceof StepError)) throw err;
    return { stopped: err.message, lastSeen };
  }
}

/** "DRAIN with 1 session(s) open, check L7OK": a server's state as messages show it. */
export function describe(stat: ServerStat): string {
  const check = stat.checkStatus ? `, check ${stat.checkStatus}` : "";
  return `${stat.status} with ${stat.scur} session(s) open${check}`;
}

/**
 * What a drain reports: how long it took, the sessions it had to wait for, and whether the server was
 * already out (MAINT) or in rotation (UP) when it began; a rerun may find it in DRAIN, neither.
 */
export interface DrainOutcome {
  drainSeconds: number;
  sessionsAtStart: number;
  alreadyOut: boolean;
  inRotationAtStart: boolean;
}

export async function haproxyDrain(
  args: HaproxyServerRef & { minHealthy: number; drainTimeoutSeconds: number; pollIntervalMs?: number },
  ctx: StepContext,
): Promise<DrainOutcome> {
  const name = label(args);
  const servers = await readBackendServers(args.runtimeApi, args.backend);
  const target = findServer(args, servers);
  if (isInMaint(target)) {
    ctx.log(`${name} is already in ${target.status}; nothing to drain`);
    return { drainSeconds: 0, sessionsAtStart: target.scur, alreadyOut: true, inRotationAtStart: false };
  }

  const healthyOthers = servers.filter((s) => s.server !== args.server && s.status === "UP");
  if (healthyOthers.length < args.minHealthy) {
    throw new StepError(
      `refusing to drain ${name}: only ${healthyOthers.length} other healthy servers ` +
        `(${healthyOthers.map((s) => s.server).join(", ") || "none"}), minHealthy is ${args.minHealthy}; ` +
        `nothing was changed. Bring the other servers back UP (show stat: ` +
        `${servers.map((s) => `${s.server}=${s.status}`).join(", ")}) and rerun.`,
    );
  }

  const started = Date.now();
  const deadline = started + args.drainTimeoutSeconds * 1000;
  const intervalMs = args.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  await setServerState(args, "state drain");
  ctx.log(
    `${name} set to DRAIN with ${target.scur} session(s) in flight; waiting up to ${args.drainTimeoutSeconds} s`,
  );

  const waitForNoSessions = async (inState: "DRAIN" | "MAINT", lastSeen: ServerStat): Promise<ServerStat> => {
    const leftChanged = `server ${name} left in ${inState}`;
    const outcome = await watchServer(
      args,
      {
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs,
        signal: ctx.signal,
        lastSeen,
        leftChanged,
      },
      (stat) => (stat.scur === 0 ? stat : undefined),
    );
    if ("value" in outcome) return outcome.value;
    const open = outcome.lastSeen.scur;
    throw new StepError(
      `drain of ${name} did not finish within ${args.drainTimeoutSeconds} s (${outcome.stopped}); ` +
        `the server is left in ${inState} with ${open} session(s) still open, taking no new requests. Rerun to ` +
        `resume the drain once the long requests end (or raise drainTimeoutSeconds); ` +
        `"set server ${name} state ready" puts it back in rotation.`,
      `${leftChanged}, ${open} session(s) still open`,
    );
  };

  const drained = await waitForNoSessions("DRAIN", { ...target, status: "DRAIN" });
  await setServerState(args, "state maint");
  // A session that arrived through persistence between the last poll and MAINT still finishes.
  await waitForNoSessions("MAINT", { ...drained, status: "MAINT" });
  const drainSeconds = (Date.now() - started) / 1000;
  ctx.log(`${name} drained in ${drainSeconds.toFixed(2)} s and set to MAINT`);
  // A rerun may find the server already in DRAIN (a drain that was cut short): it was not in rotation.
  return {
    drainSeconds,
    sessionsAtStart: target.scur,
    alreadyOut: false,
    inRotationAtStart: target.status.startsWith("UP"),
  };
}

export async function haproxyAdmit(
  args: HaproxyServerRef & { healthTimeoutSeconds: number; pollIntervalMs?: number },
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  const name = label(args);
  const before = await haproxyServerState(args);
  if (before.status === "UP") {
    ctx.log(`${name} is already UP; nothing to admit`);
    return { admitSeconds: 0 };
  }

  const started = Date.now();
  const deadline = started + args.healthTimeoutSeconds * 1000;
  const intervalMs = args.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  // Leaving MAINT straight for READY would put the server back in rotation on its health from
  // before MAINT. Via DRAIN (no new traffic) with health forced down, HAProxy must see `rise`
  // passing checks first.
  await setServerState(args, "state drain");
  await setServerState(args, "health down");
  ctx.log(
    `${name} out of ${before.status}, in DRAIN with health forced down; waiting for HAProxy's health checks`,
  );

  const backToMaint = async (lastSeen: ServerStat, why: string, leftChanged: string): Promise<never> => {
    try {
      await setServerState(args, "state maint");
    } catch (err) {
      throw new StepError(
        `${name} did not pass HAProxy's health check (${why}; last seen ${describe(lastSeen)}) and putting it ` +
          `back in MAINT failed: ${(err as Error).message}`,
        leftChanged,
      );
    }
    ctx.log(`${name} put back in MAINT: its health check did not pass`);
    throw new StepError(
      `${name} did not pass HAProxy's health check within ${args.healthTimeoutSeconds} s (${why}; last seen ` +
        `${describe(lastSeen)}); it was put back in MAINT and stays out of rotation. Check the node's health ` +
        `endpoint and its logs, then rerun.`,
    );
  };
  const waitForStatus = async (status: "DRAIN" | "UP", lastSeen: ServerStat, leftChanged: string) => {
    const outcome = await watchServer(
      args,
      {
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs,
        signal: ctx.signal,
        lastSeen,
        leftChanged,
      },
      (stat) => (stat.status === status ? stat : undefined),
    );
    if ("value" in outcome) return outcome.value;
    return backToMaint(outcome.lastSeen, outcome.stopped, leftChanged);
  };

  // Status DRAIN (not "DOWN" or "DOWN 1/2") means the health checks have passed `rise` times.
  const passed = await waitForStatus(
    "DRAIN",
    { ...before, status: "DOWN" },
    `server ${name} left out of rotation in DRAIN (weight 0)`,
  );
  await setServerState(args, "state ready");
  await waitForStatus("UP", passed, `server ${name} left in READY (in rotation if HAProxy sees it UP)`);
  const admitSeconds = (Date.now() - started) / 1000;
  ctx.log(`${name} passed its health checks and is UP in rotation after ${admitSeconds.toFixed(2)} s`);
  return { admitSeconds };
}

/** How a backend differs from "exactly the expected servers, all UP"; empty when it does not. */
export function fleetProblems(servers: ServerStat[], expectedServers: string[]): string[] {
  const unexpected = servers.filter((s) => !expectedServers.includes(s.server));
  const problems = expectedServers.flatMap((expected) => {
    const stat = servers.find((s) => s.server === expected);
    if (stat === undefined) return [`${expected} is missing`];
    return stat.status === "UP" ? [] : [`${expected} is ${stat.status}`];
  });
  problems.push(...unexpected.map((s) => `${s.server} (${s.status}) is not in the upgraded set`));
  return problems;
}

export async function haproxyFleetCheck(
  args: { runtimeApi: string; backend: string; expectedServers: string[] },
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  const servers = await readBackendServers(args.runtimeApi, args.backend);
  const problems = fleetProblems(servers, args.expectedServers);
  if (problems.length > 0) {
    throw new StepError(
      `HAProxy backend "${args.backend}" is not exactly the upgraded fleet, all UP: ${problems.join("; ")}. ` +
        `Remove unexpected servers from the backend or add them to the fleet, bring every node UP, then rerun.`,
    );
  }
  ctx.log(`backend ${args.backend}: ${servers.length} servers, all expected and UP`);
  return { servers: servers.map((s) => s.server) };
}
