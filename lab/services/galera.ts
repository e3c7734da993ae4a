/**
 * A real MariaDB Galera cluster on loopback, for the lab and the integration tests: every member with
 * its own SQL port, socket, datadir, tmpdir, pid file and binlog, its own group-communication port
 * (`gmcast.listen_addr`), IST port (the next one, `ist.recv_addr`) and SST port
 * (`wsrep_sst_receive_address`), as MariaDB's own mysql-test/suite/galera_3nodes/galera_3nodes.cnf
 * lays three members out on one host.
 *
 * Members run as the `mysql` user when we are root: an rsync SST run by a root mariadbd fails (the
 * joiner's rsync daemon drops to `nobody` and cannot write the datadir). SST is rsync (the `rsync`
 * package; mariabackup would need `mariadb-backup`). Binary logging is on, ROW format as Galera needs,
 * with the default index name (a custom `--log-bin-index` broke the rsync SST).
 *
 * A fresh cluster: member 1 is initialised and bootstraps a new cluster; the others join it with an
 * empty datadir and receive a full copy (SST). A stopped cluster is bootstrapped again from the member
 * Galera marks `safe_to_bootstrap` (the last to stop cleanly), else the most advanced one.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { isAlive } from "../processes";
import { run, secureFreshInstall, serverBinary } from "./mariadb";
import { findFreePortRun } from "./ports";

export const GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so";
const PORTS_PER_MEMBER = 4;
const STOP_TIMEOUT_MS = 60_000;
const POLL_MS = 200;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

export interface GaleraMember {
  /** db-1, db-2, ...: the wsrep node name and the HAProxy server name. */
  name: string;
  /** Holds data/, tmp/, the socket, the pid file and the error log; owned by the user it runs as. */
  dir: string;
  /** SQL port. */
  port: number;
  /** `gmcast.listen_addr`; IST listens on the next port (`ist.recv_addr`). */
  gcommPort: number;
  /** `wsrep_sst_receive_address`. */
  sstPort: number;
  socket: string;
  /** As last recorded; 0 when it was never started. */
  pid: number;
}

export interface GaleraCluster {
  dir: string;
  clusterName: string;
  members: GaleraMember[];
  /** root's random password (the same on every member: mysql.user replicates), readable by root only. */
  rootPasswordFile: string;
}

/** What a member says about itself (`SHOW GLOBAL STATUS LIKE 'wsrep_%'`), or why it cannot. */
export interface GaleraMemberStatus {
  name: string;
  running: boolean;
  /** Answered over its socket. */
  reachable: boolean;
  /** wsrep_ready = ON */
  ready: boolean;
  /** wsrep_cluster_status: Primary, non-Primary, Disconnected. */
  clusterStatus: string;
  /** wsrep_local_state_comment: Synced, Donor/Desynced, Joining, Joined, Initialized, ... */
  state: string;
  /** wsrep_cluster_size as this member sees it. */
  clusterSize: number;
  /** What went wrong when it is not reachable. */
  problem?: string;
}

export function memberIstPort(member: GaleraMember): number {
  return member.gcommPort + 1;
}

function dataDir(member: GaleraMember): string {
  return path.join(member.dir, "data");
}

export function memberErrorLog(member: GaleraMember): string {
  return path.join(member.dir, "mariadbd.err");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function logTail(logPath: string, lines = 30): string {
  try {
    return fs.readFileSync(logPath, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** The user and group ids mariadbd runs as: `mysql` when we are root, else ourselves. */
function serviceIds(): { uid: number; gid: number; user: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => {
    const out = spawnSync("id", [flag, "mysql"], { encoding: "utf8" });
    const n = Number(out.stdout.trim());
    if (out.status !== 0 || !Number.isInteger(n)) {
      throw new Error(
        'no "mysql" user: a Galera member must not run as root (its rsync SST fails); ' +
          "install mariadb-server (bash scripts/setup-services.sh), which creates it",
      );
    }
    return n;
  };
  return { uid: id("-u"), gid: id("-g"), user: "mysql" };
}

function chownTree(target: string, ids: { uid: number; gid: number }): void {
  fs.chownSync(target, ids.uid, ids.gid);
  if (!fs.lstatSync(target).isDirectory()) return;
  for (const entry of fs.readdirSync(target)) chownTree(path.join(target, entry), ids);
}

/** The `mysql` user must reach its member dirs: give "others" search (x, not read) on each ancestor. */
function letServiceUserTraverse(dir: string): void {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const stat = fs.statSync(d);
    if ((stat.mode & 0o001) === 0 && stat.uid === process.getuid?.())
      fs.chmodSync(d, (stat.mode & 0o7777) | 0o001);
    if (d === path.dirname(d)) break;
  }
}

/** A cluster's layout at `dir`, on free loopback ports: nothing is started. */
export async function planGaleraCluster(
  dir: string,
  count = 3,
  clusterName = "glance-lab",
): Promise<GaleraCluster> {
  if (count < 1) throw new Error(`a Galera cluster needs at least 1 member, not ${count}`);
  const base = await findFreePortRun(PORTS_PER_MEMBER * count);
  const resolved = path.resolve(dir);
  const members = Array.from({ length: count }, (_, i): GaleraMember => {
    const memberDir = path.join(resolved, `db-${i + 1}`);
    const first = base + PORTS_PER_MEMBER * i;
    return {
      name: `db-${i + 1}`,
      dir: memberDir,
      port: first,
      gcommPort: first + 1,
      sstPort: first + 3,
      socket: path.join(memberDir, "mariadb.sock"),
      pid: 0,
    };
  });
  for (const m of members) {
    if (Buffer.byteLength(m.socket) > MAX_UNIX_SOCKET_PATH) {
      throw new Error(
        `unix socket path ${m.socket} is longer than ${MAX_UNIX_SOCKET_PATH} bytes: use a shorter dir`,
      );
    }
  }
  return { dir: resolved, clusterName, members, rootPasswordFile: path.join(resolved, "root-password") };
}

/** mariadbd's arguments for one member; `bootstrap` starts a new cluster (a Primary component of one). */
export function memberArgs(cluster: GaleraCluster, member: GaleraMember, bootstrap: boolean): string[] {
  const ids = serviceIds();
  const index = cluster.members.indexOf(member);
  const peers = cluster.members.map((m) => `127.0.0.1:${m.gcommPort}`).join(",");
  const providerOptions = [
    `base_port=${member.gcommPort}`,
    `gmcast.listen_addr=tcp://127.0.0.1:${member.gcommPort}`,
    `ist.recv_addr=127.0.0.1:${memberIstPort(member)}`,
    // Enough write-sets kept for a member that was down a while to catch up by IST, not a full copy.
    "gcache.size=128M",
  ].join("; ");
  return [
    "--no-defaults",
    ...(ids ? [`--user=${ids.user}`] : []),
    `--datadir=${dataDir(member)}`,
    "--bind-address=127.0.0.1",
    `--port=${member.port}`,
    `--socket=${member.socket}`,
    `--log-bin=${path.join(dataDir(member), "binlog")}`,
    `--server-id=${index + 1}`,
    "--binlog-format=ROW",
    "--default-storage-engine=InnoDB",
    "--innodb-autoinc-lock-mode=2",
    "--skip-name-resolve",
    `--log-error=${memberErrorLog(member)}`,
    "--innodb-print-all-deadlocks=ON",
    `--pid-file=${path.join(member.dir, "mariadbd.pid")}`,
    `--tmpdir=${path.join(member.dir, "tmp")}`,
    "--wsrep-on=ON",
    `--wsrep-provider=${GALERA_PROVIDER}`,
    `--wsrep-cluster-name=${cluster.clusterName}`,
    `--wsrep-cluster-address=gcomm://${peers}`,
    `--wsrep-node-name=${member.name}`,
    "--wsrep-node-address=127.0.0.1",
    `--wsrep-node-incoming-address=127.0.0.1:${member.port}`,
    `--wsrep-provider-options=${providerOptions}`,
    "--wsrep-sst-method=rsync",
    `--wsrep-sst-receive-address=127.0.0.1:${member.sstPort}`,
    `--wsrep-sst-donor=${preferredDonors(cluster, member)}`,
    ...(bootstrap ? ["--wsrep-new-cluster"] : []),
  ];
}

/**
 * The members a rejoining member asks for its state transfer (IST or SST), the front's backups first:
 * a donor leaves Synced, the front's clustercheck then marks it down and shuts its sessions, so the
 * active member (the first) donates only when no other can. The trailing comma lets any member donate
 * as the last resort (MariaDB's wsrep_sst_donor syntax).
 */
export function preferredDonors(cluster: GaleraCluster, member: GaleraMember): string {
  const others = cluster.members.filter((m) => m !== member);
  const backups = others.filter((m) => m !== cluster.members[0]);
  return `${backups.map((m) => m.name).join(",")},`;
}

function memberByName(cluster: GaleraCluster, name: string): GaleraMember {
  const member = cluster.members.find((m) => m.name === name);
  if (member === undefined) {
    throw new Error(
      `no member "${name}" in the Galera cluster (members: ${cluster.members.map((m) => m.name).join(", ")})`,
    );
  }
  return member;
}

export function memberRunning(member: GaleraMember): boolean {
  return member.pid > 0 && isAlive(member.pid, "mariadbd");
}

function readRootPassword(cluster: GaleraCluster): string | undefined {
  try {
    return fs.readFileSync(cluster.rootPasswordFile, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Runs `statements` as root over the member's socket. */
export async function asMemberRoot<T>(
  cluster: GaleraCluster,
  member: GaleraMember,
  statements: (conn: mysql.Connection) => Promise<T>,
): Promise<T> {
  const conn = await mysql.createConnection({
    socketPath: member.socket,
    user: "root",
    password: readRootPassword(cluster) ?? "",
    connectTimeout: 2_000,
  });
  try {
    return await statements(conn);
  } finally {
    await conn.end();
  }
}

async function readWsrepStatus(conn: mysql.Connection): Promise<Record<string, string>> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'wsrep%'");
  return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
}

export async function galeraMemberStatus(
  cluster: GaleraCluster,
  member: GaleraMember,
): Promise<GaleraMemberStatus> {
  const running = memberRunning(member);
  const down: GaleraMemberStatus = {
    name: member.name,
    running,
    reachable: false,
    ready: false,
    clusterStatus: "unknown",
    state: running ? "unknown" : "stopped",
    clusterSize: 0,
  };
  if (!running) return down;
  try {
    const status = await asMemberRoot(cluster, member, readWsrepStatus);
    return {
      name: member.name,
      running,
      reachable: true,
      ready: status.wsrep_ready === "ON",
      clusterStatus: status.wsrep_cluster_status ?? "unknown",
      state: status.wsrep_local_state_comment ?? "unknown",
      clusterSize: Number(status.wsrep_cluster_size ?? 0),
    };
  } catch (err) {
    return { ...down, problem: (err as Error).message };
  }
}

export function galeraClusterStatus(cluster: GaleraCluster): Promise<GaleraMemberStatus[]> {
  return Promise.all(cluster.members.map((m) => galeraMemberStatus(cluster, m)));
}

/** Synced, ready and in the Primary component: a member that serves. */
export function memberServes(status: GaleraMemberStatus): boolean {
  return status.reachable && status.ready && status.state === "Synced" && status.clusterStatus === "Primary";
}

interface StartedProcess {
  pid: number;
  exited(): boolean;
  exitCode(): number | null | undefined;
}

function spawnMember(cluster: GaleraCluster, member: GaleraMember, bootstrap: boolean): StartedProcess {
  fs.rmSync(member.socket, { force: true });
  const child = spawn(serverBinary(), memberArgs(cluster, member, bootstrap), { stdio: "ignore" });
  let exitCode: number | null | undefined;
  child.once("exit", (code, signal) => (exitCode = code ?? (signal ? -1 : null)));
  child.once("error", () => (exitCode = -1));
  child.unref();
  if (child.pid === undefined) {
    throw new Error(
      `could not start mariadbd: is mariadb-server installed? run "bash scripts/setup-services.sh" (as root) first`,
    );
  }
  // A test runner that dies without afterAll must not leave a member holding its ports; the lab CLI
  // drops this hook (processes.ts startService) so that members outlive it.
  const pid = child.pid;
  const killOnExit = (): void => {
    if (exitCode === undefined) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  member.pid = pid;
  return { pid, exited: () => exitCode !== undefined, exitCode: () => exitCode };
}

/** Waits until the member is Synced, ready and Primary (a joiner first receives its IST or SST). */
async function waitMemberServes(
  cluster: GaleraCluster,
  member: GaleraMember,
  proc: StartedProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "not answering yet";
  for (;;) {
    if (proc.exited()) {
      throw new Error(
        `${member.name} (mariadbd) exited (code ${proc.exitCode()}) while starting; log ${memberErrorLog(member)}:\n${logTail(memberErrorLog(member))}`,
      );
    }
    const status = await galeraMemberStatus(cluster, member);
    if (memberServes(status)) return;
    last = status.reachable
      ? `${status.state}, ${status.clusterStatus}, ready ${status.ready}`
      : (status.problem ?? status.state);
    if (Date.now() > deadline) {
      throw new Error(
        `${member.name} did not become Synced within ${timeoutMs / 1000} s (${last}); log ${memberErrorLog(member)}:\n${logTail(memberErrorLog(member))}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** Creates the member's dirs (owned by the service user) and, for the founding member, its datadir. */
function prepareMemberDirs(member: GaleraMember, initialise: boolean): void {
  const ids = serviceIds();
  fs.mkdirSync(path.join(member.dir, "tmp"), { recursive: true, mode: 0o700 });
  fs.mkdirSync(dataDir(member), { recursive: true, mode: 0o700 });
  if (ids) chownTree(member.dir, ids);
  if (initialise && !fs.existsSync(path.join(dataDir(member), "mysql"))) {
    run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${dataDir(member)}`,
      `--user=${ids?.user ?? process.env.USER ?? "root"}`,
      "--auth-root-authentication-method=normal",
    ]);
  }
}

/** Starts one member of a running cluster (or the founder, with `bootstrap`) and waits until it is Synced. */
export async function startGaleraMember(
  cluster: GaleraCluster,
  name: string,
  opts: { bootstrap?: boolean; timeoutMs?: number } = {},
): Promise<GaleraMember> {
  const member = memberByName(cluster, name);
  if (memberRunning(member)) return member;
  prepareMemberDirs(member, false);
  const proc = spawnMember(cluster, member, opts.bootstrap === true);
  try {
    await waitMemberServes(cluster, member, proc, opts.timeoutMs ?? 120_000);
  } catch (err) {
    await stopGaleraMember(cluster, name, "SIGKILL");
    throw err;
  }
  return member;
}

/**
 * Stops one member: SIGTERM is a clean shutdown (it leaves the cluster; a later start catches up by
 * IST), SIGKILL a crash (the others see it vanish; its datadir needs recovery at the next start).
 */
export async function stopGaleraMember(
  cluster: GaleraCluster,
  name: string,
  signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
): Promise<void> {
  const member = memberByName(cluster, name);
  if (!memberRunning(member)) return;
  process.kill(member.pid, signal);
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  let killed = signal === "SIGKILL";
  while (isAlive(member.pid, "mariadbd")) {
    if (!killed && Date.now() > deadline) {
      process.kill(member.pid, "SIGKILL");
      killed = true;
    }
    await sleep(100);
  }
}

/** grastate.dat of a stopped member: its last committed seqno and whether it may bootstrap. */
export function grastate(member: GaleraMember): { seqno: number; safeToBootstrap: boolean } | undefined {
  try {
    const text = fs.readFileSync(path.join(dataDir(member), "grastate.dat"), "utf8");
    const seqno = Number(/^seqno:\s*(-?\d+)/m.exec(text)?.[1] ?? -1);
    return { seqno, safeToBootstrap: /^safe_to_bootstrap:\s*1/m.test(text) };
  } catch {
    return undefined;
  }
}

/** The member to bootstrap a stopped cluster from: Galera's safe_to_bootstrap one, else the most advanced. */
export function bootstrapCandidate(cluster: GaleraCluster): GaleraMember {
  const states = cluster.members.map((m) => ({ m, g: grastate(m) }));
  const safe = states.find((s) => s.g?.safeToBootstrap === true);
  if (safe) return safe.m;
  const best = states
    .filter((s) => s.g !== undefined)
    .sort((a, b) => (b.g?.seqno ?? -1) - (a.g?.seqno ?? -1))[0]?.m;
  if (best === undefined)
    throw new Error(`no member of the Galera cluster at ${cluster.dir} has a grastate.dat to start from`);
  // Galera refuses to bootstrap from a member not marked safe: the operator's forced recovery, done
  // on the most advanced member (a crashed cluster, seqno -1 everywhere: member order).
  const file = path.join(dataDir(best), "grastate.dat");
  fs.writeFileSync(
    file,
    fs.readFileSync(file, "utf8").replace(/^safe_to_bootstrap:\s*0/m, "safe_to_bootstrap: 1"),
  );
  return best;
}

export interface StartGaleraResult {
  /** A new cluster (datadirs initialised now). */
  fresh: boolean;
  /** How long each member took to be Synced, in order of start. */
  memberMs: Record<string, number>;
}

/**
 * Brings the whole cluster up: a fresh one (member 1 initialised and bootstrapped, the others joining by
 * SST), or a stopped one (bootstrapped from the right member), or completes a partly running one.
 * Returns with every member Synced in one Primary component.
 */
export async function startGaleraCluster(
  cluster: GaleraCluster,
  log: (line: string) => void = () => undefined,
): Promise<StartGaleraResult> {
  const ids = serviceIds();
  fs.mkdirSync(cluster.dir, { recursive: true, mode: 0o711 });
  if (ids) letServiceUserTraverse(cluster.dir);
  const memberMs: Record<string, number> = {};
  const founder = cluster.members[0];
  const fresh =
    !fs.existsSync(path.join(dataDir(founder), "mysql")) && readRootPassword(cluster) === undefined;
  const timed = async (name: string, start: () => Promise<unknown>): Promise<void> => {
    const t0 = Date.now();
    await start();
    memberMs[name] = Date.now() - t0;
  };

  if (fresh) {
    await timed(founder.name, async () => {
      prepareMemberDirs(founder, true);
      const proc = spawnMember(cluster, founder, true);
      // A fresh datadir: root has no password until secureFreshInstall; wait for the socket first.
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (proc.exited()) {
          throw new Error(
            `${founder.name} exited while bootstrapping; log:\n${logTail(memberErrorLog(founder))}`,
          );
        }
        const status = await galeraMemberStatus(cluster, founder);
        if (memberServes(status)) break;
        if (Date.now() > deadline)
          throw new Error(`${founder.name} did not bootstrap: ${status.problem ?? status.state}`);
        await sleep(POLL_MS);
      }
      const rootPassword = randomBytes(18).toString("base64url");
      await secureFreshInstall(founder.socket, rootPassword);
      fs.writeFileSync(cluster.rootPasswordFile, `${rootPassword}\n`, { mode: 0o600 });
    });
    log(
      `Galera ${founder.name} bootstrapped a new cluster on 127.0.0.1:${founder.port} (${memberMs[founder.name]} ms)`,
    );
  } else if (!cluster.members.some(memberRunning)) {
    const from = bootstrapCandidate(cluster);
    await timed(from.name, () => startGaleraMember(cluster, from.name, { bootstrap: true }));
    log(`Galera cluster bootstrapped again from ${from.name} (${memberMs[from.name]} ms)`);
  }
  // Joiners one at a time: each is the donor's only SST then.
  for (const member of cluster.members) {
    if (memberRunning(member)) continue;
    await timed(member.name, () => startGaleraMember(cluster, member.name));
    log(`Galera ${member.name} joined, Synced on 127.0.0.1:${member.port} (${memberMs[member.name]} ms)`);
  }
  return { fresh, memberMs };
}

/** Stops every member, the founder last (so it is the one marked safe to bootstrap). */
export async function stopGaleraCluster(cluster: GaleraCluster): Promise<void> {
  for (const member of [...cluster.members].reverse()) await stopGaleraMember(cluster, member.name);
}

/** Runs `statements` as root on one member; for database and user setup on a fresh cluster. */
export function createDatabaseAndUsers(
  cluster: GaleraCluster,
  setup: { database: string; users: Array<{ user: string; password: string; grants: string }> },
): Promise<void> {
  return asMemberRoot(cluster, cluster.members[0], async (conn) => {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(setup.database)}`);
    for (const { user, password, grants } of setup.users) {
      await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user, password]);
      await conn.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
      // `grants` is trusted lab input such as "ALL ON glance.*"; the user is escaped.
      await conn.query(`GRANT ${grants} TO ?@'%'`, [user]);
    }
  });
}
