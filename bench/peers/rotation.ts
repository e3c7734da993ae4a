/**
 * How long each server was out of rotation, from a series of HAProxy `show stat` polls. All three
 * peers are measured this way, from the load balancer's side: a drained node is out from the poll
 * that first sees DRAIN, a node stopped with no drain from the poll that first sees HAProxy's checks
 * mark it down, and either is back at the first poll that sees it UP again.
 */

export interface ServerSample {
  status: string;
  scur: number;
}

/** One poll: when its answer arrived (epoch ms) and each server's state in the backend. */
export interface RotationSample {
  at: number;
  servers: Record<string, ServerSample>;
}

export interface RotationInterval {
  from: number;
  to: number;
  /** Every distinct status seen while out, in order (DRAIN, MAINT, DOWN, "DOWN 1/2", ...). */
  statuses: string[];
}

export interface ServerRotation {
  server: string;
  totalMs: number;
  intervals: RotationInterval[];
  /** A poll saw the server in DRAIN with at least one session: a drain had something to wait for. */
  drainedWithSessions: boolean;
  /** A poll saw the server in DRAIN at all. */
  sawDrain: boolean;
}

/**
 * HAProxy sends new requests to a server whose status is UP, or "UP 1/2" (failing checks, not yet
 * down). Every other status (DRAIN, MAINT, DOWN, "DOWN 1/2" while rising, NOLB) takes none.
 */
export function takesTraffic(status: string): boolean {
  return status === "UP" || status.startsWith("UP ") || status === "no check";
}

/**
 * On the ALB lab the samples hold each target's DescribeTargetHealth state: the lab ALB's data plane
 * routes new requests to `healthy` targets only (a deregistered one may still get some for its
 * propagation lag, about 1 s, while already shown `draining`).
 */
export function albTakesTraffic(state: string): boolean {
  return state === "healthy";
}

/**
 * The server's out-of-rotation intervals; polls that missed the server (an error) are skipped.
 * `takes` says which statuses take new requests: HAProxy's (default) or the ALB's.
 */
export function serverRotation(
  samples: RotationSample[],
  server: string,
  takes: (status: string) => boolean = takesTraffic,
): ServerRotation {
  const intervals: RotationInterval[] = [];
  let open: RotationInterval | undefined;
  let lastAt: number | undefined;
  let sawDrain = false;
  let drainedWithSessions = false;
  for (const sample of [...samples].sort((a, b) => a.at - b.at)) {
    const state = sample.servers[server];
    if (state === undefined) continue;
    lastAt = sample.at;
    if (state.status === "DRAIN") {
      sawDrain = true;
      if (state.scur > 0) drainedWithSessions = true;
    }
    if (takes(state.status)) {
      if (open !== undefined) {
        open.to = sample.at;
        intervals.push(open);
        open = undefined;
      }
      continue;
    }
    if (open === undefined) open = { from: sample.at, to: sample.at, statuses: [] };
    if (open.statuses[open.statuses.length - 1] !== state.status) open.statuses.push(state.status);
  }
  // Still out at the last poll: counted up to that poll.
  if (open !== undefined && lastAt !== undefined) intervals.push({ ...open, to: lastAt });
  const totalMs = intervals.reduce((sum, i) => sum + (i.to - i.from), 0);
  return { server, totalMs, intervals, drainedWithSessions, sawDrain };
}

/** The first moment after `after` at which a poll saw the server in `status`, if any. */
export function firstSeen(
  samples: RotationSample[],
  server: string,
  status: string,
  after = 0,
): number | undefined {
  return samples
    .filter((s) => s.at >= after && s.servers[server]?.status === status)
    .reduce<number | undefined>(
      (first, s) => (first === undefined || s.at < first ? s.at : first),
      undefined,
    );
}
