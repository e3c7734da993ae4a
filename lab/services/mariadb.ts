/**
 * A real MariaDB with binary logging on, for the integration tests and the local lab: its own data
 * dir, socket and loopback port. An initialised data dir is reused, so the lab can stop and restart it.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import mysql from "mysql2/promise";
import type { DbEndpoint } from "../../steps/db/connection";
import { findFreePort } from "./ports";
import { ensureServerCertificate } from "./tlsCa";

export interface StartMariadbOptions {
  /** Holds data/, the socket, the error log and the root password file. */
  dir: string;
  /** 0 or absent: pick a free port. */
  port?: number;
  /** How long to wait for the server to answer; default 30 s. */
  startTimeoutMs?: number;
}

export interface RunningMariadb {
  host: "127.0.0.1";
  port: number;
  socket: string;
  /** The CA that signed the server's TLS certificate (TLS is offered, not required). */
  caFile: string;
  rootPassword?: string;
  pid: number;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
  /** Creates (or re-passwords) `user`@'%' and grants e.g. "ALL ON glance.*" or "SUPER ON *.*". */
  createUser(user: string, password: string, grants: string): Promise<void>;
  rootEndpoint(database?: string): DbEndpoint;
}

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;
const STOP_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 100;
const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"];

export function run(binary: string, args: string[]): void {
  const result = spawnSync(binary, args, { encoding: "utf8" });
  if (result.error) {
    throw new Error(
      `could not run ${binary} (${result.error.message}): is mariadb-server installed? ` +
        `run "bash scripts/setup-services.sh" (as root) first`,
    );
  }
  if (result.status !== 0) {
    throw new Error(
      `${binary} ${args.join(" ")} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** Debian puts mariadbd in /usr/sbin, which a non-root PATH may lack. */
export function serverBinary(): string {
  const onPath = (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "mariadbd"));
  return [...onPath, "/usr/sbin/mariadbd"].find((p) => fs.existsSync(p)) ?? "mariadbd";
}

function logTail(logPath: string): string {
  try {
    return fs.readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * First start of a fresh data dir: root has no password and there are anonymous users. Give every
 * root account a random password and drop the anonymous ones, over the socket.
 */
export async function secureFreshInstall(socket: string, rootPassword: string): Promise<void> {
  const conn = await mysql.createConnection({ socketPath: socket, user: "root", password: "" });
  try {
    const [accounts] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT User, Host FROM mysql.user WHERE (User = 'root' OR User = '') AND is_role = 'N'",
    );
    for (const row of accounts) {
      const [user, host] = [String(row.User), String(row.Host)];
      // Under --skip-name-resolve, accounts for the machine's host name can never match: drop them.
      if (user === "root" && LOOPBACK_HOSTS.includes(host)) {
        await conn.query("ALTER USER 'root'@? IDENTIFIED BY ?", [host, rootPassword]);
      } else {
        await conn.query("DROP USER ?@?", [user, host]);
      }
    }
    // Users come from '%' under --skip-name-resolve; root must log in over TCP from 127.0.0.1 too.
    await conn.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ?", [rootPassword]);
    await conn.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
  } finally {
    await conn.end();
  }
}

export async function startMariadb(opts: StartMariadbOptions): Promise<RunningMariadb> {
  const dir = path.resolve(opts.dir);
  const dataDir = path.join(dir, "data");
  const socket = path.join(dir, "mariadb.sock");
  const errorLog = path.join(dir, "mariadbd.err");
  const passwordFile = path.join(dir, "root-password");
  if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH) {
    throw new Error(
      `unix socket path ${socket} is longer than ${MAX_UNIX_SOCKET_PATH} bytes: use a shorter dir`,
    );
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });

  const initialised = fs.existsSync(path.join(dataDir, "mysql"));
  if (!initialised) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
    ]);
  } else if (!fs.existsSync(passwordFile)) {
    throw new Error(
      `${dataDir} is initialised but ${passwordFile} is missing: remove ${dir} to start afresh`,
    );
  }

  fs.rmSync(socket, { force: true });
  const tls = ensureServerCertificate(path.join(dir, "tls"));
  // A tmpdir of its own: a MariaDB server deletes every #sql* file in its tmpdir when it starts, so
  // with the shared /tmp, another lab's server starting removed temporary tables this one was using
  // (a soak saw image lists answered 500, "Error on delete of '/tmp/#sql-temptable-...'").
  const tmpDir = path.join(dir, "tmp");
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const port = opts.port || (await findFreePort());
  const child = spawn(
    serverBinary(),
    [
      "--no-defaults",
      "--user=root",
      `--datadir=${dataDir}`,
      "--bind-address=127.0.0.1",
      `--port=${port}`,
      `--socket=${socket}`,
      `--log-bin=${path.join(dataDir, "binlog")}`,
      "--server-id=1",
      "--binlog-format=MIXED",
      "--skip-name-resolve",
      `--log-error=${errorLog}`,
      // Every InnoDB deadlock, both transactions and their locks, in the error log (kept by the tests).
      "--innodb-print-all-deadlocks=ON",
      `--pid-file=${path.join(dir, "mariadbd.pid")}`,
      `--tmpdir=${tmpDir}`,
      `--ssl-ca=${tls.caFile}`,
      `--ssl-cert=${tls.certFile}`,
      `--ssl-key=${tls.keyFile}`,
    ],
    { stdio: "ignore" },
  );
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const pid = child.pid;
  if (pid === undefined) {
    const error = await spawnError;
    throw new Error(
      `could not start mariadbd (${error.message}): is mariadb-server installed? run "bash scripts/setup-services.sh" (as root) first`,
    );
  }

  const stop = async (): Promise<void> => {
    if (exitCode !== undefined) return;
    // SIGTERM is mariadbd's clean shutdown (flushes InnoDB, closes the binlog).
    child.kill("SIGTERM");
    const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killTimer);
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let lastProblem = "not answering yet";
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`mariadbd exited (code ${exitCode}) while starting; log:\n${logTail(errorLog)}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mariadbd did not answer on ${socket}: ${lastProblem}; log:\n${logTail(errorLog)}`);
    }
    try {
      // A bare handshake proves it answers; the credentials do not matter for that.
      const probe = await mysql.createConnection({
        socketPath: socket,
        user: "readiness-probe",
        connectTimeout: 1_000,
      });
      await probe.end();
      break;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_ACCESS_DENIED_NO_PASSWORD_ERROR") break;
      lastProblem = (err as Error).message;
    }
    await sleep(POLL_INTERVAL_MS);
  }

  let rootPassword: string;
  try {
    if (initialised) {
      rootPassword = fs.readFileSync(passwordFile, "utf8").trim();
    } else {
      rootPassword = randomBytes(18).toString("base64url");
      await secureFreshInstall(socket, rootPassword);
      fs.writeFileSync(passwordFile, `${rootPassword}\n`, { mode: 0o600 });
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const asRoot = async (statements: (conn: mysql.Connection) => Promise<void>): Promise<void> => {
    const conn = await mysql.createConnection({ socketPath: socket, user: "root", password: rootPassword });
    try {
      await statements(conn);
    } finally {
      await conn.end();
    }
  };

  return {
    host: "127.0.0.1",
    port,
    socket,
    caFile: tls.caFile,
    rootPassword,
    pid,
    stop,
    createDatabase: (name) =>
      asRoot(async (conn) => {
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(name)}`);
      }),
    createUser: (user, password, grants) =>
      asRoot(async (conn) => {
        await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user, password]);
        await conn.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
        // `grants` is trusted test/lab input such as "ALL ON glance.*"; the user is escaped.
        await conn.query(`GRANT ${grants} TO ?@'%'`, [user]);
      }),
    rootEndpoint: (database = "mysql") => ({
      host: "127.0.0.1",
      port,
      user: "root",
      password: rootPassword,
      database,
    }),
  };
}
