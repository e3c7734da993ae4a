/**
 * A client for HAProxy's runtime API (the `stats socket`), spoken over `node:net`: one command per
 * connection, the answer is everything HAProxy writes before it closes the connection.
 */
import * as net from "node:net";
import { StepError } from "../context";

/** One server line of `show stat`, the fields the membership steps reason about. */
export interface ServerStat {
  server: string;
  /** HAProxy's view: UP, DOWN, DRAIN, MAINT, NOLB, "UP 1/2" (going down), "DOWN 1/2" (going up), "no check", ... */
  status: string;
  /** Current sessions: what a drain waits to reach 0. */
  scur: number;
  weight: number;
  /** Last health check result (L7OK, L4CON, L7STS, INI, ...); a leading "* " means a check is running. */
  checkStatus: string;
  hrsp5xx: number;
  eresp: number;
  econ: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

type SocketTarget = { path: string } | { host: string; port: number };

/** `unix:/path/to/sock`, `/path/to/sock`, `127.0.0.1:9999`, `ipv4@127.0.0.1:9999` or `[::1]:9999`. */
export function parseRuntimeAddress(runtimeApi: string): SocketTarget {
  if (runtimeApi.startsWith("unix:")) return { path: runtimeApi.slice("unix:".length) };
  if (runtimeApi.startsWith("/")) return { path: runtimeApi };
  const hostPort = runtimeApi.replace(/^ipv[46]@/, "");
  const colon = hostPort.lastIndexOf(":");
  const port = Number(hostPort.slice(colon + 1));
  const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new StepError(
      `HAProxy runtime API address "${runtimeApi}" is not understood: use "unix:/path/to/admin.sock" or "host:port"`,
    );
  }
  return { host, port };
}

function unreachable(runtimeApi: string, cause: string): StepError {
  return new StepError(
    `HAProxy runtime API at ${runtimeApi} is unreachable (${cause}): check that HAProxy is running and that ` +
      `its global section has "stats socket ${runtimeApi.replace(/^unix:/, "")} level admin"`,
  );
}

/** Sends one command and returns HAProxy's whole answer (raw text). */
export function runtimeCommand(
  runtimeApi: string,
  command: string,
  timeoutMs: number = DEFAULT_COMMAND_TIMEOUT_MS,
): Promise<string> {
  const target = parseRuntimeAddress(runtimeApi);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error: StepError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const socket = net.createConnection(target, () => socket.write(`${command}\n`));
    const timer = setTimeout(
      () => finish(unreachable(runtimeApi, `no complete answer to "${command}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", () => finish(undefined));
    socket.on("error", (err: NodeJS.ErrnoException) =>
      finish(unreachable(runtimeApi, err.code ?? err.message)),
    );
  });
}

/** Parses `show stat` CSV into one record per line, keyed by the header's column names. */
export function parseStatCsv(csv: string): Array<Record<string, string>> {
  const lines = csv.split("\n").filter((line) => line.trim() !== "");
  const headerLine = lines.find((line) => line.startsWith("# "));
  if (headerLine === undefined) {
    throw new StepError(
      `HAProxy's "show stat" answer has no "# pxname,..." header: got ${JSON.stringify(csv.slice(0, 200))}`,
    );
  }
  const columns = headerLine.slice(2).split(",");
  return lines
    .filter((line) => !line.startsWith("#"))
    .map((line) => {
      const values = line.split(",");
      return Object.fromEntries(columns.map((name, i) => [name, values[i] ?? ""]));
    });
}

function toNumber(value: string | undefined): number {
  const n = Number(value);
  return value === undefined || value === "" || Number.isNaN(n) ? 0 : n;
}

/** The server lines (type 2) of one backend. */
export function serverStatsOf(rows: Array<Record<string, string>>, backend: string): ServerStat[] {
  return rows
    .filter((row) => row.pxname === backend && row.type === "2")
    .map((row) => ({
      server: row.svname ?? "",
      status: row.status ?? "",
      scur: toNumber(row.scur),
      weight: toNumber(row.weight),
      checkStatus: row.check_status ?? "",
      hrsp5xx: toNumber(row.hrsp_5xx),
      eresp: toNumber(row.eresp),
      econ: toNumber(row.econ),
    }));
}

/** The names of every backend (and listen section) in a `show stat` answer. */
export function backendNamesOf(rows: Array<Record<string, string>>): string[] {
  return rows.filter((row) => row.type === "1").map((row) => row.pxname ?? "");
}

/**
 * The servers of `backend`. An unknown backend is an operator error, so it throws naming the
 * backends that do exist.
 */
export async function readBackendServers(runtimeApi: string, backend: string): Promise<ServerStat[]> {
  const rows = parseStatCsv(await runtimeCommand(runtimeApi, "show stat"));
  const backends = backendNamesOf(rows);
  if (!backends.includes(backend)) {
    throw new StepError(
      `HAProxy at ${runtimeApi} has no backend "${backend}" (backends: ${backends.join(", ") || "none"}); ` +
        `check the load balancer's backend name in the stack config`,
    );
  }
  return serverStatsOf(rows, backend);
}
