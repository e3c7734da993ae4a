import { readFileSync } from "node:fs";
import * as net from "node:net";
import mysql from "mysql2/promise";
import { StepContext, StepError } from "../context";

/** How a step reaches the Glance database (or the admin account on the same server). */
export interface DbEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Require TLS, verifying the server's certificate and that it names `host`. */
  ssl?: boolean;
  /** The CA bundle to verify it against (PEM, on this machine); Node's bundled CAs without it. */
  caFile?: string;
}

export type DbConnection = mysql.Connection;

const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long the queries of one withConnection may take together. The program's queries are small
 * reads and one SET GLOBAL: one that hangs is blocked (a lock, a stuck server), and a step that
 * waits forever holds the whole upgrade with it.
 */
export const QUERY_TIMEOUT_MS = 30_000;

/** `user@host:port/database`: how messages name an endpoint (never with its password). */
export function describeEndpoint(db: DbEndpoint): string {
  return `${db.user}@${db.host}:${db.port}/${db.database}`;
}

/** Removes the password from text that came back from a server or a client tool, just in case. */
export function redactPassword(text: string, password: string): string {
  return password.length > 0 ? text.split(password).join("***") : text;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Node's codes for a server certificate that did not verify. */
const CERTIFICATE_ERRORS = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HANDSHAKE_SSL_ERROR",
]);

/** Node's name-check failure; mysql2 rewrites its code to HANDSHAKE_SSL_ERROR, so the text decides too. */
function isNameMismatch(err: unknown, code: string | undefined): boolean {
  return (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" ||
    (err instanceof Error && err.message.includes("does not match certificate's altnames"))
  );
}

function whatToCheck(db: DbEndpoint, err: unknown): string {
  const code = errorCode(err);
  if (isNameMismatch(err, code)) {
    return (
      `the server's TLS certificate does not name ${db.host} (database.host): set database.host to a name ` +
      "the certificate carries (for RDS, the instance or cluster endpoint, not an IP address or a CNAME of your own), " +
      "or have the certificate reissued for that name"
    );
  }
  if (code !== undefined && CERTIFICATE_ERRORS.has(code)) {
    return (
      `the server's TLS certificate did not verify ${db.caFile ? `against database.caFile (${db.caFile})` : "against Node's bundled CAs (set database.caFile to your CA bundle, e.g. the RDS global bundle)"}: ` +
      `check that the file holds the CA that signed the server's certificate and that the certificate names ${db.host}`
    );
  }
  switch (code) {
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_DBACCESS_DENIED_ERROR":
      return `check the user name and password in the stack config, and that '${db.user}' may connect from this host and use database '${db.database}'`;
    case "ER_BAD_DB_ERROR":
      return `check that database '${db.database}' exists on that server`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `check the host name '${db.host}' (it does not resolve)`;
    case "ETIMEDOUT":
      return (
        `check that the server is running and reachable from this host on ${db.host}:${db.port} (firewall, security group, bind-address), ` +
        "and that it is MySQL or MariaDB: a server that never greets a MySQL client (PostgreSQL does not) times out like this"
      );
    default:
      return `check that the server is running and reachable from this host on ${db.host}:${db.port} (firewall, security group, bind-address)`;
  }
}

/** A StepError for a connection or query that failed; the message never contains the password. */
export function databaseError(db: DbEndpoint, doing: string, err: unknown): StepError {
  const cause = redactPassword(err instanceof Error ? err.message : String(err), db.password);
  return new StepError(
    `could not ${doing} (database '${db.database}' at ${db.host}:${db.port}, user '${db.user}'): ` +
      `${cause || errorCode(err) || "unknown error"}; ${whatToCheck(db, err)}`,
  );
}

/**
 * mysql2's TLS options: verify the server against the CA file (or Node's CAs), and that its
 * certificate names `host`: mysql2 skips the name check unless `verifyIdentity` is set.
 */
export function tlsOptions(
  db: DbEndpoint,
): { ca?: string; rejectUnauthorized: true; verifyIdentity: true } | undefined {
  if (!db.ssl) return undefined;
  const verify = { rejectUnauthorized: true, verifyIdentity: true } as const;
  if (db.caFile === undefined) return verify;
  try {
    return { ca: readFileSync(db.caFile, "utf8"), ...verify };
  } catch (err) {
    throw new StepError(
      `cannot read database.caFile ${db.caFile} (${err instanceof Error ? err.message : String(err)}): put the CA bundle there on the machine running the upgrade, or fix the path`,
    );
  }
}

/**
 * The TCP socket mysql2 upgrades to TLS, for a host given as an IP address. mysql2 sends no server
 * name for an IP, and Node then checks the certificate's names against the socket's `_host`, which
 * net sets only after a DNS lookup, else against "localhost": a certificate for localhost passed for
 * any IP and one for the IP itself was refused. Setting it checks the IP against the certificate.
 */
function socketNamedByIp(db: DbEndpoint): () => net.Socket {
  return () => {
    const socket = net.connect(db.port, db.host);
    socket.setNoDelay(true);
    Object.assign(socket, { _host: db.host });
    return socket;
  };
}

/** Opens one connection; a failure is a StepError that names host:port and user and what to check. */
export async function openConnection(db: DbEndpoint): Promise<DbConnection> {
  const ssl = tlsOptions(db);
  try {
    return await mysql.createConnection({
      ...(ssl !== undefined && net.isIP(db.host) !== 0 ? { stream: socketNamedByIp(db) } : {}),
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
      database: db.database,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ssl,
      multipleStatements: false,
    });
  } catch (err) {
    throw databaseError(db, "connect", err);
  }
}

/**
 * Runs `use` on a fresh connection and always closes it; query errors become StepErrors too. Queries
 * that have not answered within `timeoutMs` are given up: the connection is destroyed (its pending
 * query fails) and the step fails saying so.
 */
export async function withConnection<T>(
  db: DbEndpoint,
  doing: string,
  use: (conn: DbConnection) => Promise<T>,
  timeoutMs: number = QUERY_TIMEOUT_MS,
): Promise<T> {
  const conn = await openConnection(db);
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  // mysql2 does not fail a pending query when its connection is destroyed: race it instead.
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      conn.destroy();
      reject(
        new StepError(
          `could not ${doing} (database '${db.database}' at ${db.host}:${db.port}, user '${db.user}'): no ` +
            `answer within ${timeoutMs / 1000} s, so the connection was closed; a lock or an overloaded server ` +
            `may block it: look at SHOW PROCESSLIST on that server, then rerun`,
        ),
      );
    }, timeoutMs);
  });
  const used = use(conn);
  used.catch(() => undefined);
  try {
    return await Promise.race([used, expired]);
  } catch (err) {
    if (err instanceof StepError) throw err;
    throw databaseError(db, doing, err);
  } finally {
    clearTimeout(timer);
    if (!timedOut) await conn.end().catch(() => conn.destroy());
  }
}

/** Reads one row of a query as plain values. */
export async function queryOne(
  conn: DbConnection,
  sql: string,
  values: unknown[] = [],
): Promise<Record<string, unknown>> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(sql, values);
  const row = rows[0];
  if (row === undefined) throw new Error(`no row returned by: ${sql}`);
  return row;
}

/**
 * Servers that speak MySQL's protocol but are not MySQL or MariaDB, by what they report. Glance's
 * rolling upgrade (expand, migrate, contract on a live schema) is supported on MySQL and MariaDB only.
 */
const NOT_MYSQL = /TiDB|Vitess|SingleStore|MemSQL|ClickHouse|Manticore|Doris|StarRocks|OceanBase|Dolt/i;

/** Undefined for MySQL or MariaDB (Aurora and Percona included); otherwise why the server is refused. */
export function notMysqlReason(version: string, comment: string): string | undefined {
  const named = NOT_MYSQL.exec(`${version} ${comment}`)?.[0];
  if (named === undefined) return undefined;
  return (
    `the server reports VERSION() '${version}' (${comment}): it is ${named}, not MySQL or MariaDB. Glance supports ` +
    "rolling upgrades (db expand, migrate, contract on a live schema) on MySQL and MariaDB only; upgrade this " +
    "database offline (all nodes stopped, glance-manage db sync) instead"
  );
}

export async function checkConnection(db: DbEndpoint, ctx: StepContext): Promise<{ serverVersion: string }> {
  const { version, comment } = await withConnection(db, "read the server version", async (conn) => {
    const row = await queryOne(conn, "SELECT VERSION() AS version, @@version_comment AS comment");
    return { version: String(row.version), comment: String(row.comment ?? "") };
  });
  const refused = notMysqlReason(version, comment);
  if (refused !== undefined) throw new StepError(`database ${describeEndpoint(db)}: ${refused}`);
  ctx.log(`database ${describeEndpoint(db)} reachable (server ${version}, ${comment})`);
  return { serverVersion: version };
}
