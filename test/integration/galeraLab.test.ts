/**
 * The Galera lab (`lab up --galera`): a real 3-member MariaDB Galera cluster (galera-4) on loopback,
 * members running as `mysql` with binary logging, rsync SST, behind a real HAProxy front (one member
 * active, the others backup, a clustercheck per member) that the lab's Glance node uses.
 */
import * as fs from "node:fs";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../steps/context";
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../../steps/lb/haproxyRuntime";
import { galeraMemberCommand } from "../../lab/galeraLab";
import type { LabState } from "../../lab/lab";
import {
  type GaleraMember,
  galeraMemberStatus,
  memberErrorLog,
  memberServes,
} from "../../lab/services/galera";
import { LAB_CREDENTIALS, readLabState } from "../../lab/state";
import { silentContext } from "../../steps/context";
import { galeraPreflight } from "../../steps/db/galera";
import { describeHold, measureHolds, startHoldProbe } from "../../lab/services/galeraHold";
import { freshLab, removeLab } from "../support/labFixture";

type Creds = { user: string; password: string };

/** The hold control's own schema (not Glance's): a table to rebuild, and MariaDB's seq_1_to_N. */
const CONTROL_SCHEMA = "gru_hold_control";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function query<T extends mysql.RowDataPacket>(
  port: number,
  creds: Creds,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: creds.user,
    password: creds.password,
    connectTimeout: 3_000,
  });
  try {
    const [rows] = await conn.query<T[]>(sql, params);
    return rows;
  } finally {
    await conn.end();
  }
}

/** A read on one member that first waits for every write-set the cluster committed (causal read). */
async function causalRead(
  member: GaleraMember,
  sql: string,
  params: unknown[] = [],
): Promise<mysql.RowDataPacket[]> {
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port: member.port,
    ...LAB_CREDENTIALS.admin,
  });
  try {
    await conn.query("SET SESSION wsrep_sync_wait = 1");
    const [rows] = await conn.query<mysql.RowDataPacket[]>(sql, params);
    return rows;
  } finally {
    await conn.end();
  }
}

async function variable(port: number, name: string): Promise<string> {
  const rows = await query(port, LAB_CREDENTIALS.admin, "SHOW GLOBAL VARIABLES LIKE ?", [name]);
  return String(rows[0]?.Value);
}

async function wsrep(port: number): Promise<Record<string, string>> {
  const rows = await query(port, LAB_CREDENTIALS.admin, "SHOW GLOBAL STATUS LIKE 'wsrep%'");
  return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
}

/** Which member a new connection through the HAProxy front reaches. */
async function servedBy(lab: LabState): Promise<string> {
  const rows = await query(lab.db.port, LAB_CREDENTIALS.glance, "SELECT @@wsrep_node_name AS node");
  return String(rows[0].node);
}

async function frontServers(lab: LabState): Promise<Record<string, string>> {
  const galera = lab.galera;
  if (galera === undefined) throw new Error("not a Galera lab");
  const servers = serverStatsOf(
    parseStatCsv(await runtimeCommand(galera.haproxy.runtimeApi, "show stat")),
    galera.haproxy.backendName,
  );
  return Object.fromEntries(servers.map((s) => [s.server, s.status]));
}

function members(lab: LabState): GaleraMember[] {
  if (lab.galera === undefined) throw new Error("not a Galera lab");
  return lab.galera.cluster.members;
}

async function expectAllSynced(lab: LabState): Promise<void> {
  for (const m of members(lab)) {
    const status = await wsrep(m.port);
    expect(
      {
        member: m.name,
        size: status.wsrep_cluster_size,
        state: status.wsrep_local_state_comment,
        cluster: status.wsrep_cluster_status,
        ready: status.wsrep_ready,
      },
      m.name,
    ).toEqual({ member: m.name, size: "3", state: "Synced", cluster: "Primary", ready: "ON" });
  }
}

async function writeThroughFront(lab: LabState, note: string): Promise<void> {
  await query(lab.db.port, LAB_CREDENTIALS.glance, "INSERT INTO glance.galera_probe (note) VALUES (?)", [
    note,
  ]);
}

async function expectNoteOnMember(member: GaleraMember, note: string): Promise<void> {
  const rows = await causalRead(member, "SELECT COUNT(*) AS n FROM glance.galera_probe WHERE note = ?", [
    note,
  ]);
  expect(Number(rows[0].n), `${note} on ${member.name}`).toBe(1);
}

/** The program's preflight check of the cluster, each member at its own address as the Glance user. */
function preflight(lab: LabState): ReturnType<typeof galeraPreflight> {
  return galeraPreflight(
    members(lab).map((m) => ({
      host: "127.0.0.1",
      port: m.port,
      ...LAB_CREDENTIALS.glance,
      database: LAB_CREDENTIALS.database,
    })),
    silentContext,
  );
}

function mysqlUid(): number {
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("mysql:"));
  return Number(line?.split(":")[2]);
}

function processUid(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

describe("the Galera lab", () => {
  let lab: LabState;
  let upMs = 0;
  const logLines: string[] = [];

  beforeAll(async () => {
    const started = Date.now();
    lab = await freshLab(1, (line) => logLines.push(line), { galera: true });
    upMs = Date.now() - started;
    await query(
      lab.db.port,
      LAB_CREDENTIALS.glance,
      "CREATE TABLE glance.galera_probe (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) NOT NULL)",
    );
  });

  afterAll(async () => {
    await removeLab(lab);
  });

  it("forms a 3-member cluster: every member Synced, in the Primary component, sized 3", async () => {
    const galeraLine = logLines.find((l) => l.startsWith("Galera cluster up in"));
    process.stderr.write(`[galera-lab] lab up (1 Glance node) in ${upMs} ms; ${galeraLine}\n`);
    expect(members(lab).map((m) => m.name)).toEqual(["db-1", "db-2", "db-3"]);
    await expectAllSynced(lab);
    // The program's preflight agrees, as the Glance user (no privilege beyond glance.*).
    const readings = await preflight(lab);
    expect(readings.map((r) => [r.nodeName, r.state, r.clusterStatus, r.clusterSize, r.ready])).toEqual([
      ["db-1", "Synced", "Primary", 3, true],
      ["db-2", "Synced", "Primary", 3, true],
      ["db-3", "Synced", "Primary", 3, true],
    ]);
  });

  it("runs every member as the mysql user with binary logging on (ROW)", async () => {
    for (const m of members(lab)) {
      expect(processUid(m.pid), `${m.name} uid`).toBe(mysqlUid());
      expect(await variable(m.port, "log_bin")).toBe("ON");
      expect(await variable(m.port, "binlog_format")).toBe("ROW");
      expect(await variable(m.port, "wsrep_sst_method")).toBe("rsync");
    }
  });

  it("puts the HAProxy front where Glance connects: db-1 active, db-2 and db-3 backup", async () => {
    const galera = lab.galera;
    expect(galera?.haproxy.port).toBe(lab.db.port);
    expect(lab.ports.mariadb).toBe(lab.db.port);
    expect(fs.readFileSync(galera?.haproxy.configPath ?? "", "utf8")).toMatch(
      /server db-1 127\.0\.0\.1:\d+ check\n\s+server db-2 127\.0\.0\.1:\d+ check backup\n\s+server db-3 127\.0\.0\.1:\d+ check backup/,
    );
    expect(await frontServers(lab)).toEqual({ "db-1": "UP", "db-2": "UP", "db-3": "UP" });
    expect(await servedBy(lab)).toBe("db-1");
    // Glance's own schema (db sync ran through the front at lab up) is on every member.
    for (const m of members(lab)) {
      const rows = await causalRead(m, "SELECT COUNT(*) AS n FROM glance.alembic_version");
      expect(Number(rows[0].n), m.name).toBeGreaterThan(0);
    }
  });

  it("replicates a write through the front to every member", async () => {
    await writeThroughFront(lab, "first");
    for (const m of members(lab)) await expectNoteOnMember(m, "first");
  });

  it("the hold probe on db-2 reads a slow TOI DDL sent to db-1 as a stall of about its length, and a quiet window as none (negative control)", async () => {
    const [m1, m2] = members(lab);
    const started = Date.now();
    // A lab table of our own whose rebuild takes about a second: every row's stored column hashes 10 kB.
    const admin1 = await mysql.createConnection({
      host: "127.0.0.1",
      port: m1.port,
      ...LAB_CREDENTIALS.admin,
    });
    try {
      await admin1.query(`CREATE SCHEMA ${CONTROL_SCHEMA}`);
      await admin1.query(
        `CREATE TABLE ${CONTROL_SCHEMA}.ballast (id INT PRIMARY KEY, pad VARCHAR(100) NOT NULL)`,
      );
      await admin1.query(
        `INSERT INTO ${CONTROL_SCHEMA}.ballast SELECT seq, REPEAT('x', 100) FROM ${CONTROL_SCHEMA}.seq_1_to_20000`,
      );
      expect(await servedBy(lab), "the front's active member").toBe("db-1");
      const probe = await startHoldProbe({ host: "127.0.0.1", port: m2.port, ...LAB_CREDENTIALS.admin });
      expect([probe.node, probe.osuMethod]).toEqual(["db-2", "TOI"]);
      await sleep(1_000);
      const quiet = { name: "quiet", from: Date.now(), to: 0 };
      await sleep(1_500);
      quiet.to = Date.now();
      const ddl = { name: "ALTER on db-1", from: Date.now(), to: 0 };
      await admin1.query(
        `ALTER TABLE ${CONTROL_SCHEMA}.ballast ADD COLUMN h CHAR(64) AS (SHA2(REPEAT(pad, 100), 256)) STORED`,
      );
      ddl.to = Date.now();
      // db-2 applies the DDL in parallel with db-1 and may finish after it.
      await sleep(1_000);
      const commits = await probe.stop();
      const [q, d] = measureHolds(commits, [quiet, ddl]);
      const ddlMs = ddl.to - ddl.from;
      process.stderr.write(
        `[galera-lab] hold probe on db-2, DDL on db-1 took ${ddlMs} ms: ${describeHold(q)}; ${describeHold(d)}; ` +
          `whole control ${Date.now() - started} ms\n`,
      );
      expect(commits.filter((c) => c.error !== undefined)).toEqual([]);
      // The hold is reported: about the DDL's length on db-1. db-2 applies the same rebuild at the same
      // time, as db-3 does, on a shared 2-core machine: a run under load read 3.9 s for a 2.0 s DDL.
      expect(d.longestStallMs).toBeGreaterThanOrEqual(ddlMs * 0.5);
      expect(d.longestStallMs).toBeLessThanOrEqual(ddlMs * 3 + 1_000);
      expect(d.heldMs).toBeGreaterThanOrEqual(ddlMs * 0.5);
      // And without a DDL, nothing like it: db-2 kept committing at about its baseline.
      expect(q.committedInside).toBeGreaterThan(10);
      expect(q.longestStallMs).toBeLessThan(ddlMs * 0.25);
      expect(q.heldMs).toBeLessThan(ddlMs * 0.25);
    } finally {
      await admin1.query(`DROP SCHEMA IF EXISTS ${CONTROL_SCHEMA}`);
      await admin1.end();
    }
  });

  it("keeps log_bin_trust_function_creators per member: SET GLOBAL on db-1 leaves db-2 and db-3 as they were", async () => {
    const [m1, m2, m3] = members(lab);
    const before = await Promise.all(
      members(lab).map((m) => variable(m.port, "log_bin_trust_function_creators")),
    );
    expect(before).toEqual(["OFF", "OFF", "OFF"]);
    await query(m1.port, LAB_CREDENTIALS.admin, "SET GLOBAL log_bin_trust_function_creators = 1");
    try {
      const after = {
        [m1.name]: await variable(m1.port, "log_bin_trust_function_creators"),
        [m2.name]: await variable(m2.port, "log_bin_trust_function_creators"),
        [m3.name]: await variable(m3.port, "log_bin_trust_function_creators"),
      };
      process.stderr.write(`[galera-lab] after SET GLOBAL on db-1: ${JSON.stringify(after)}\n`);
      expect(after).toEqual({ "db-1": "ON", "db-2": "OFF", "db-3": "OFF" });
    } finally {
      await query(m1.port, LAB_CREDENTIALS.admin, "SET GLOBAL log_bin_trust_function_creators = 0");
    }
  });

  it("the clustercheck takes a member that is not Synced out of the front (negative control: a desynced member)", async () => {
    const m2 = members(lab)[1];
    await query(m2.port, LAB_CREDENTIALS.admin, "SET GLOBAL wsrep_desync = ON");
    try {
      expect((await wsrep(m2.port)).wsrep_local_state_comment).toBe("Donor/Desynced");
      // Still accepting connections (a TCP check would keep it UP); the clustercheck marks it DOWN.
      await pollUntil(async () => ((await frontServers(lab))["db-2"] === "DOWN" ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 250,
        describe: () => "the front to mark the desynced db-2 DOWN",
      });
      // The program's preflight refuses the cluster, naming the member and its state.
      await expect(preflight(lab)).rejects.toThrow(
        `127.0.0.1:${m2.port} (db-2): its state is Donor/Desynced, not Synced`,
      );
    } finally {
      await query(m2.port, LAB_CREDENTIALS.admin, "SET GLOBAL wsrep_desync = OFF");
    }
    await pollUntil(async () => ((await frontServers(lab))["db-2"] === "UP" ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 250,
      describe: () => "the front to mark db-2 UP again",
    });
  });

  it("a member stopped cleanly, written past, then started rejoins by IST and is Synced", async () => {
    const m3 = members(lab)[2];
    let status = await galeraMemberCommand(lab.dir, "stop", "db-3");
    expect(status.find((s) => s.name === "db-3")?.state).toBe("stopped");
    expect(status.find((s) => s.name === "db-1")?.clusterSize).toBe(2);
    await writeThroughFront(lab, "while-db-3-stopped");
    const refusal = preflight(lab);
    await expect(refusal).rejects.toThrow(`127.0.0.1:${m3.port} is unreachable`);
    await expect(refusal).rejects.toThrow(/\(db-1\): it sees a cluster of 2, not the 3 member\(s\) named/);
    const started = Date.now();
    status = await galeraMemberCommand(lab.dir, "start", "db-3");
    process.stderr.write(`[galera-lab] db-3 restart after a clean stop: ${Date.now() - started} ms\n`);
    expect(status.map((s) => [s.name, s.state, s.clusterSize])).toEqual([
      ["db-1", "Synced", 3],
      ["db-2", "Synced", 3],
      ["db-3", "Synced", 3],
    ]);
    await expectNoteOnMember(m3, "while-db-3-stopped");
    expect(fs.readFileSync(memberErrorLog(m3), "utf8")).toMatch(/IST received/);
  });

  it("a member killed (SIGKILL), written past, then started rejoins (IST or SST) and is Synced", async () => {
    const m2 = members(lab)[1];
    await galeraMemberCommand(lab.dir, "kill", "db-2");
    await writeThroughFront(lab, "while-db-2-killed");
    const started = Date.now();
    const status = await galeraMemberCommand(lab.dir, "start", "db-2");
    const log = fs.readFileSync(memberErrorLog(m2), "utf8");
    const how = /IST received/.test(log.slice(log.lastIndexOf("Starting MariaDB"))) ? "IST" : "SST";
    process.stderr.write(`[galera-lab] db-2 restart after SIGKILL: ${Date.now() - started} ms, by ${how}\n`);
    expect(
      status.every((s) => s.state === "Synced" && s.clusterSize === 3 && s.clusterStatus === "Primary"),
    ).toBe(true);
    await expectNoteOnMember(m2, "while-db-2-killed");
    await expectAllSynced(lab);
  });

  it("the front fails over to a backup member when the active one dies, and the cluster keeps every write", async () => {
    const [m1] = members(lab);
    // The front serves db-1, its active member, once its check has passed twice (rise 2): under a
    // heavy load a check can time out (3 s) and the front serves a backup for a few seconds.
    await pollUntil(
      async () =>
        (await frontServers(lab))["db-1"] === "UP" && (await servedBy(lab)) === "db-1" ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 250, describe: () => "the front to serve db-1, its active member" },
    );
    const killed = Date.now();
    await galeraMemberCommand(lab.dir, "kill", "db-1");
    // A write through the front lands as soon as a backup serves and the survivors form the Primary
    // component without db-1 (Galera's suspect timeout).
    const served = await pollUntil(
      async () => {
        try {
          await writeThroughFront(lab, "after-failover");
          return await servedBy(lab);
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, intervalMs: 250, describe: () => "a write through the front after db-1 died" },
    );
    process.stderr.write(
      `[galera-lab] failover: a write served by ${served} ${Date.now() - killed} ms after db-1 was killed\n`,
    );
    expect(["db-2", "db-3"]).toContain(served);
    expect((await frontServers(lab))["db-1"]).toBe("DOWN");
    // lab.json has the pids of members restarted above.
    const cluster = readLabState(lab.dir)?.galera?.cluster;
    if (cluster === undefined) throw new Error("lab.json lost its Galera cluster");
    for (const m of cluster.members.filter((member) => member.name !== "db-1")) {
      await expectNoteOnMember(m, "after-failover");
      // The survivors evict db-1 and stay a Primary component of 2 (the write above can land
      // before the eviction: a run saw size 3 right after it).
      await pollUntil(
        async () => {
          const status = await galeraMemberStatus(cluster, m);
          return status.clusterSize === 2 && memberServes(status) ? true : undefined;
        },
        {
          timeoutMs: 30_000,
          intervalMs: 250,
          describe: () => `${m.name} to serve in a Primary component of 2`,
        },
      );
    }
    // db-1 rejoins; the front sends new connections to it again once its checks pass.
    await galeraMemberCommand(lab.dir, "start", "db-1");
    await expectNoteOnMember(m1, "after-failover");
    await pollUntil(async () => ((await servedBy(lab)) === "db-1" ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 250,
      describe: () => "the front to send new connections to db-1 again",
    });
    await expectAllSynced(lab);
  });
});
