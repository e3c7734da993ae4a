/**
 * How long a DDL held a Galera cluster, measured from a member other than the one that runs it.
 *
 * Under total order isolation (TOI, `wsrep_OSU_method`'s default) a DDL takes a place in the cluster's
 * total order and every member applies it there: a commit ordered after it, on any member and on any
 * table, waits until that member has applied the DDL. So a probe on another member (not the front's
 * active one, which receives the DDL) commits a one-row UPDATE to a table of its own (schema
 * `gru_hold_probe`, not Glance's) every PROBE_INTERVAL_MS on one connection and times each commit.
 *
 * What "the cluster was held" means here, per window (a step's start to its end):
 * - baseline: the median latency of the probe's commits that overlap no measured window;
 * - a commit's stall: its latency minus the baseline (a failed or unfinished commit counts the time
 *   until it failed or the probe stopped);
 * - the commits of a window: those whose [start, end] overlaps it;
 * - longest stall: the largest stall among them (the longest the other member could not commit);
 * - held: the sum of their stalls over HELD_OVER_MS. One connection commits one write at a time, so
 *   stalls never overlap and the sum is time during which that member committed nothing.
 * A hold shorter than the probe interval can be missed, and one is under-read by up to the interval
 * plus the baseline (the DDL can start while the probe sleeps).
 */
import { performance } from "node:perf_hooks";
import mysql from "mysql2/promise";

export const PROBE_SCHEMA = "gru_hold_probe";
export const PROBE_TABLE = "commits";
export const PROBE_INTERVAL_MS = 50;
/** A stall over this counts toward `held`: above a loaded 2-core machine's scheduling noise. */
export const HELD_OVER_MS = 50;

/** One probe write: when it was sent, how long until it committed (or failed, or the probe stopped). */
export interface ProbeCommit {
  at: number;
  ms: number;
  /** Why it did not commit: the server's error, or "unfinished" when the probe stopped first. */
  error?: string;
}

export interface HoldWindow {
  name: string;
  from: number;
  to: number;
}

export interface WindowHold extends HoldWindow {
  /** Probe commits overlapping the window. */
  commits: number;
  /** Of those, committed (no error) with their end inside the window: the member accepted writes then. */
  committedInside: number;
  baselineMs: number;
  longestStallMs: number;
  /** When the longest stall's commit was sent (0 when there was no commit). */
  longestStallAt: number;
  /** Sum of the stalls over HELD_OVER_MS. */
  heldMs: number;
  /** How many commits stalled over HELD_OVER_MS. */
  heldCommits: number;
  errors: number;
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function overlaps(c: ProbeCommit, w: HoldWindow): boolean {
  return c.at <= w.to && c.at + c.ms >= w.from;
}

/** The baseline: the median latency of the committed writes that overlap no window. */
export function probeBaseline(commits: ProbeCommit[], windows: HoldWindow[]): number {
  const outside = commits.filter((c) => c.error === undefined && !windows.some((w) => overlaps(c, w)));
  if (outside.length === 0) {
    throw new Error(
      `no probe commit outside the ${windows.length} window(s): nothing to take the baseline from`,
    );
  }
  return median(outside.map((c) => c.ms));
}

/** Each window's hold (definitions in this file's comment). */
export function measureHolds(
  commits: ProbeCommit[],
  windows: HoldWindow[],
  opts: { baselineMs?: number; heldOverMs?: number } = {},
): WindowHold[] {
  const baselineMs = opts.baselineMs ?? probeBaseline(commits, windows);
  const heldOver = opts.heldOverMs ?? HELD_OVER_MS;
  return windows.map((w) => {
    const inWindow = commits.filter((c) => overlaps(c, w));
    let longest: ProbeCommit | undefined;
    let heldMs = 0;
    let heldCommits = 0;
    for (const c of inWindow) {
      const stall = Math.max(0, c.ms - baselineMs);
      if (longest === undefined || stall > longest.ms - baselineMs) longest = c;
      if (stall > heldOver) {
        heldMs += stall;
        heldCommits += 1;
      }
    }
    return {
      ...w,
      commits: inWindow.length,
      committedInside: inWindow.filter((c) => c.error === undefined && c.at + c.ms <= w.to).length,
      baselineMs,
      longestStallMs: longest === undefined ? 0 : Math.max(0, longest.ms - baselineMs),
      longestStallAt: longest?.at ?? 0,
      heldMs,
      heldCommits,
      errors: inWindow.filter((c) => c.error !== undefined).length,
    };
  });
}

/** One line per window, for a test's output and the README's figures. */
export function describeHold(h: WindowHold): string {
  const seconds = ((h.to - h.from) / 1000).toFixed(1);
  return (
    `${h.name} (${seconds} s): longest stall ${h.longestStallMs.toFixed(0)} ms, held ${h.heldMs.toFixed(0)} ms ` +
    `(${h.heldCommits} commit(s) over ${HELD_OVER_MS} ms), baseline ${h.baselineMs.toFixed(1)} ms, ` +
    `${h.commits} probe commits, ${h.errors} error(s)`
  );
}

export interface HoldProbe {
  /** The member's wsrep_node_name and wsrep_OSU_method, read at start. */
  node: string;
  osuMethod: string;
  /** Stops writing (an unfinished commit is recorded as such), drops the probe schema, returns every write. */
  stop(): Promise<ProbeCommit[]>;
}

export interface HoldProbeOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  intervalMs?: number;
  /** How long stop() waits for an in-flight commit before recording it unfinished. */
  stopWaitMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts the probe on one member: creates its schema and one-row table there (replicated to every
 * member), waits until the member has applied every earlier write-set (so an earlier large write is
 * not read as a hold), then commits an UPDATE every `intervalMs` (the next at once when one took longer).
 */
export async function startHoldProbe(opts: HoldProbeOptions): Promise<HoldProbe> {
  const intervalMs = opts.intervalMs ?? PROBE_INTERVAL_MS;
  const connect = () =>
    mysql.createConnection({
      host: opts.host,
      port: opts.port,
      user: opts.user,
      password: opts.password,
      connectTimeout: 10_000,
    });
  let conn = await connect();
  const [vars] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT @@wsrep_node_name AS node, @@wsrep_OSU_method AS osu",
  );
  await conn.query(`CREATE SCHEMA IF NOT EXISTS ${PROBE_SCHEMA}`);
  await conn.query(
    `CREATE TABLE IF NOT EXISTS ${PROBE_SCHEMA}.${PROBE_TABLE} (id INT PRIMARY KEY, n BIGINT NOT NULL)`,
  );
  await conn.query(`INSERT IGNORE INTO ${PROBE_SCHEMA}.${PROBE_TABLE} VALUES (1, 0)`);
  await conn.query("SET SESSION wsrep_sync_wait = 1");
  await conn.query(`SELECT n FROM ${PROBE_SCHEMA}.${PROBE_TABLE} WHERE id = 1`);
  await conn.query("SET SESSION wsrep_sync_wait = 0");

  const commits: ProbeCommit[] = [];
  let running = true;
  let inFlight: { at: number; t0: number } | undefined;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const t0 = performance.now();
      inFlight = { at, t0 };
      try {
        await conn.query(`UPDATE ${PROBE_SCHEMA}.${PROBE_TABLE} SET n = n + 1 WHERE id = 1`);
        if (inFlight !== undefined) commits.push({ at, ms: performance.now() - t0 });
      } catch (err) {
        if (inFlight === undefined) break; // stop() recorded it unfinished and closed the connection
        commits.push({ at, ms: performance.now() - t0, error: (err as Error).message });
        conn.destroy();
        await sleep(intervalMs);
        conn = await connect().catch(() => conn);
      }
      inFlight = undefined;
      await sleep(Math.max(0, at + intervalMs - Date.now()));
    }
  })();

  return {
    node: String(vars[0].node),
    osuMethod: String(vars[0].osu),
    stop: async () => {
      running = false;
      const finished = await Promise.race([loop.then(() => true), sleep(opts.stopWaitMs ?? 30_000)]);
      if (!finished) {
        if (inFlight !== undefined) {
          commits.push({ at: inFlight.at, ms: performance.now() - inFlight.t0, error: "unfinished" });
          inFlight = undefined;
        }
        conn.destroy();
        await loop;
      } else {
        await conn.query(`DROP SCHEMA IF EXISTS ${PROBE_SCHEMA}`).catch(() => undefined);
        await conn.end();
      }
      return commits;
    },
  };
}
