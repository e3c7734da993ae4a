/**
 * The preflight's check of a MariaDB Galera cluster (database.galeraMembers): every member, reached at
 * its own address, must answer, be a Galera member (wsrep_on), be ready (wsrep_ready), be in the
 * Primary component, be Synced, and see a cluster of exactly the members named. A degraded cluster is
 * refused before anything changes, naming each member and its state.
 */
import mysql from "mysql2/promise";
import { StepContext, StepError } from "../context";
import { DbEndpoint, withConnection } from "./connection";

/** What one member said about itself, or why it could not be asked. */
export interface GaleraMemberReading {
  /** `host:port` as configured. */
  address: string;
  /** wsrep_node_name, when it answered. */
  nodeName?: string;
  /** Why it could not be read (connection refused, access denied, ...). */
  unreachable?: string;
  wsrepOn?: boolean;
  ready?: boolean;
  /** wsrep_cluster_status: Primary, non-Primary, Disconnected. */
  clusterStatus?: string;
  /** wsrep_local_state_comment: Synced, Donor/Desynced, Joining, Joined, Initialized, ... */
  state?: string;
  clusterSize?: number;
  /** wsrep_cluster_state_uuid: the same on every member of one cluster. */
  clusterUuid?: string;
  /** This member's log_bin_trust_function_creators (a per-member setting). */
  trust?: boolean;
}

function memberLabel(r: GaleraMemberReading): string {
  return r.nodeName ? `${r.address} (${r.nodeName})` : r.address;
}

/** One line per member: `10.0.0.11:3306 (db-1): Synced, Primary, size 3, ready`. */
export function describeMember(r: GaleraMemberReading): string {
  if (r.unreachable !== undefined) return `${memberLabel(r)}: unreachable (${r.unreachable})`;
  if (r.wsrepOn === false) return `${memberLabel(r)}: not a Galera member (wsrep_on is OFF)`;
  return (
    `${memberLabel(r)}: ${r.state ?? "?"}, ${r.clusterStatus ?? "?"}, size ${r.clusterSize ?? "?"}, ` +
    `${r.ready ? "ready" : "not ready"}` +
    (r.trust === undefined ? "" : `, log_bin_trust_function_creators=${r.trust ? 1 : 0}`)
  );
}

/** The problems with a cluster's readings: empty when every member serves in one healthy cluster. */
export function galeraProblems(readings: GaleraMemberReading[]): string[] {
  const problems: string[] = [];
  const expected = readings.length;
  for (const r of readings) {
    const label = memberLabel(r);
    if (r.unreachable !== undefined) {
      problems.push(`${label} is unreachable: ${r.unreachable}`);
      continue;
    }
    if (r.wsrepOn === false) {
      problems.push(`${label} is not a Galera member (wsrep_on is OFF): check database.galeraMembers`);
      continue;
    }
    const wrong: string[] = [];
    if (!r.ready) wrong.push("wsrep_ready is OFF");
    if (r.clusterStatus !== "Primary") wrong.push(`it is outside the Primary component (${r.clusterStatus})`);
    if (r.state !== "Synced") wrong.push(`its state is ${r.state}, not Synced`);
    if (r.clusterSize !== expected)
      wrong.push(`it sees a cluster of ${r.clusterSize}, not the ${expected} member(s) named`);
    if (wrong.length > 0) problems.push(`${label}: ${wrong.join("; ")}`);
  }
  const uuids = new Set(readings.flatMap((r) => (r.clusterUuid ? [r.clusterUuid] : [])));
  if (uuids.size > 1) {
    problems.push(
      `the members answer for ${uuids.size} different clusters (wsrep_cluster_state_uuid): ` +
        readings.map((r) => `${memberLabel(r)} ${r.clusterUuid ?? "?"}`).join(", "),
    );
  }
  return problems;
}

const STATUS_SQL =
  "SHOW GLOBAL STATUS WHERE Variable_name IN " +
  "('wsrep_ready','wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_state_uuid')";

/** Reads one member (a short timeout: a member that hangs is reported, not waited for). */
export async function readGaleraMember(db: DbEndpoint): Promise<GaleraMemberReading> {
  const address = `${db.host}:${db.port}`;
  try {
    return await withConnection(
      db,
      "read the Galera member's state",
      async (conn) => {
        const [vars] = await conn.query<mysql.RowDataPacket[]>(
          "SELECT @@GLOBAL.wsrep_on AS wsrep_on, @@GLOBAL.wsrep_node_name AS node_name, " +
            "@@GLOBAL.log_bin_trust_function_creators AS trust",
        );
        const wsrepOn = Number(vars[0]?.wsrep_on) === 1;
        const nodeName = String(vars[0]?.node_name ?? "") || undefined;
        const trust = Number(vars[0]?.trust) === 1;
        if (!wsrepOn) return { address, nodeName, wsrepOn, trust };
        const [rows] = await conn.query<mysql.RowDataPacket[]>(STATUS_SQL);
        const s = Object.fromEntries(rows.map((row) => [String(row.Variable_name), String(row.Value)]));
        return {
          address,
          nodeName,
          wsrepOn,
          ready: s.wsrep_ready === "ON",
          clusterStatus: s.wsrep_cluster_status,
          state: s.wsrep_local_state_comment,
          clusterSize: Number(s.wsrep_cluster_size),
          clusterUuid: s.wsrep_cluster_state_uuid,
          trust,
        };
      },
      10_000,
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { address, unreachable: message };
  }
}

/**
 * Reads every member (in parallel) and throws a StepError naming each degraded one and its state;
 * returns the readings of a healthy cluster.
 */
export async function galeraPreflight(
  members: DbEndpoint[],
  ctx: StepContext,
): Promise<GaleraMemberReading[]> {
  const readings = await Promise.all(members.map(readGaleraMember));
  for (const r of readings) ctx.log(`Galera member ${describeMember(r)}`);
  const problems = galeraProblems(readings);
  if (problems.length > 0) {
    throw new StepError(
      `the Galera cluster is degraded (${problems.length} problem(s)): ${problems.join("; ")}. ` +
        "An upgrade's schema steps replicate to every member and need a Primary component of all of them: " +
        "bring every member back to Synced (or fix database.galeraMembers), then rerun",
    );
  }
  return readings;
}
