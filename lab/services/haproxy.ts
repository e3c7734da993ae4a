/**
 * A real HAProxy for the integration tests and the local lab: HTTP mode, health-checking every
 * backend, with an admin runtime API on a unix socket and on a loopback TCP port.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { serverStatsOf } from "../../steps/lb/haproxyRuntime";
import { spawnHaproxy, waitUntilReady } from "./haproxyProcess";
import { findFreePort } from "./ports";

export interface HaproxyBackend {
  /** The server name in HAProxy (what drain/admit address). */
  name: string;
  /** `127.0.0.1:port` */
  address: string;
  /**
   * A loopback port where a frontend of its own reaches this server alone, out of any rotation:
   * what the node's `worker_self_reference_url` names, so other nodes can reach an image staged on it.
   */
  selfPort?: number;
}

export interface StartHaproxyOptions {
  /** Where haproxy.cfg, the admin socket and haproxy.log go. */
  dir: string;
  backends: HaproxyBackend[];
  /** 0 or absent: pick a free port. */
  frontendPort?: number;
  /** Default "glance". */
  backendName?: string;
  /**
   * More backends holding the same servers, each behind a frontend of its own (kolla-ansible's
   * `glance_api_back` and `glance_api_external_back`: an internal and an external VIP).
   */
  extraBackendNames?: string[];
  /** Default /healthcheck. */
  healthPath?: string;
  /** Default 1000 (with fall 2 rise 2). */
  checkIntervalMs?: number;
  /** How long to wait for the runtime API and the first health checks; default 20 s. */
  startTimeoutMs?: number;
  /** Headers every frontend sets on each request, replacing the client's (the lab's identity). */
  requestHeaders?: Record<string, string>;
}

export interface RunningHaproxy {
  frontendUrl: string;
  /** `unix:<dir>/admin.sock` */
  runtimeApi: string;
  /** `127.0.0.1:<port>` */
  runtimeApiTcp: string;
  backendName: string;
  /** Every backend's frontend, `backendName` and each extra one: name -> `http://127.0.0.1:port`. */
  frontendUrls: Record<string, string>;
  pid: number;
  configPath: string;
  /** One line per request (httplog, with the client's X-Request-Id). */
  logPath: string;
  stop(): Promise<void>;
}

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

export function haproxyConfig(opts: {
  frontendPort: number;
  adminSocketPath: string;
  adminTcpPort: number;
  backendName: string;
  healthPath: string;
  checkIntervalMs: number;
  backends: HaproxyBackend[];
  requestHeaders?: Record<string, string>;
  /** Extra backends with the same servers: name -> its frontend's port. */
  extraBackends?: Record<string, number>;
}): string {
  const servers = opts.backends.map((b) => `    server ${b.name} ${b.address} check`).join("\n");
  const setHeaders = Object.entries(opts.requestHeaders ?? {})
    .map(([name, value]) => `    http-request set-header ${name} ${value}\n`)
    .join("");
  const selfProxies = opts.backends
    .filter((b) => b.selfPort !== undefined)
    .map(
      (b) => `
frontend fe_self_${b.name}
    bind 127.0.0.1:${b.selfPort}
    http-request capture req.hdr(x-request-id) len 64
${setHeaders}    default_backend self_${b.name}

backend self_${b.name}
    option http-server-close
    http-response set-header X-Served-By %[srv_name]
    server ${b.name} ${b.address}
`,
    )
    .join("");
  const frontendAndBackend = (name: string, port: number): string => `frontend fe_${name}
    bind 127.0.0.1:${port}
    # The client's request id, logged in braces after the queue counters, so a failure seen by the
    # client can be matched with HAProxy's line for it.
    http-request capture req.hdr(x-request-id) len 64
${setHeaders}    default_backend ${name}

backend ${name}
    balance roundrobin
    # No server-side keep-alive to Glance's eventlet server (Fuel's glance-api used httpclose too).
    # With HAProxy's connection reuse, a request sent on an idle server connection that the server
    # just closed ends in a silent client close (HAProxy expects the client to retry); closed after
    # each response, a node that drops a request shows as a 502/503 instead.
    option http-server-close
    # Which node answered, for the client's failure reports and its held downloads.
    http-response set-header X-Served-By %[srv_name]
    option httpchk GET ${opts.healthPath}
    http-check expect status 200
    default-server inter ${opts.checkIntervalMs} fall 2 rise 2
${servers}
`;
  const extra = Object.entries(opts.extraBackends ?? {})
    .map(([name, port]) => `\n${frontendAndBackend(name, port)}`)
    .join("");
  return `global
    stats socket ${opts.adminSocketPath} mode 600 level admin
    stats socket ipv4@127.0.0.1:${opts.adminTcpPort} level admin
    stats timeout 30s
    maxconn 2048
    # One line per request in haproxy.log (HAProxy's stdout here), with its termination state.
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    # No redispatch: a zero-failure run must be earned by the drain, not hidden by HAProxy's retries.
    no option redispatch
    retries 3
    timeout connect 2s
    timeout client 10m
    # Long, so that slow downloads in flight during a drain are never cut by HAProxy itself.
    timeout server 10m
    timeout http-request 10s
    # Far longer than a client's idle pool limit (the load client closes after 1 s idle), so an idle
    # client connection is always closed by the client: HAProxy never closes one under a request.
    timeout http-keep-alive 60s
    timeout queue 30s
    timeout check 2s

${frontendAndBackend(opts.backendName, opts.frontendPort)}${extra}
${selfProxies}`;
}

function assertHaproxyInstalled(): void {
  const probe = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `haproxy is not installed or not on PATH (${probe.error?.message ?? `exit ${probe.status}`}): ` +
        `run "bash scripts/setup-services.sh" (as root) first`,
    );
  }
}

export async function startHaproxy(opts: StartHaproxyOptions): Promise<RunningHaproxy> {
  assertHaproxyInstalled();
  const backendName = opts.backendName ?? "glance";
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });
  const adminSocketPath = path.join(dir, "admin.sock");
  if (Buffer.byteLength(adminSocketPath) > MAX_UNIX_SOCKET_PATH) {
    throw new Error(
      `unix socket path ${adminSocketPath} is longer than ${MAX_UNIX_SOCKET_PATH} bytes: use a shorter dir`,
    );
  }
  fs.rmSync(adminSocketPath, { force: true });
  const frontendPort = opts.frontendPort || (await findFreePort());
  const adminTcpPort = await findFreePort();
  const extraBackends: Record<string, number> = {};
  for (const name of opts.extraBackendNames ?? []) extraBackends[name] = await findFreePort();
  const configPath = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(
    configPath,
    haproxyConfig({
      frontendPort,
      adminSocketPath,
      adminTcpPort,
      backendName,
      healthPath: opts.healthPath ?? "/healthcheck",
      checkIntervalMs: opts.checkIntervalMs ?? 1000,
      backends: opts.backends,
      requestHeaders: opts.requestHeaders,
      extraBackends,
    }),
  );

  const logPath = path.join(dir, "haproxy.log");
  const haproxy = spawnHaproxy(configPath, logPath);
  const runtimeApi = `unix:${adminSocketPath}`;
  await waitUntilReady({
    haproxy,
    runtimeApi,
    logPath,
    timeoutMs: opts.startTimeoutMs ?? 20_000,
    problem: (rows) => {
      const servers = [backendName, ...Object.keys(extraBackends)].flatMap((name) =>
        serverStatsOf(rows, name),
      );
      // Before its first check a server shows check status INI (with "* " while the check runs).
      const pending = servers.filter((s) => s.checkStatus.replace(/^\* /, "") === "INI");
      const expected = opts.backends.length * (1 + Object.keys(extraBackends).length);
      if (servers.length === expected && pending.length === 0) return undefined;
      return `first health check pending for ${pending.map((s) => s.server).join(", ")}`;
    },
    says: {
      exited: (code) => `haproxy exited (code ${code}) while starting; ${configPath}`,
      notReady: (problem) => `haproxy did not become ready: ${problem}`,
    },
  });

  return {
    frontendUrl: `http://127.0.0.1:${frontendPort}`,
    runtimeApi,
    runtimeApiTcp: `127.0.0.1:${adminTcpPort}`,
    backendName,
    frontendUrls: Object.fromEntries([
      [backendName, `http://127.0.0.1:${frontendPort}`],
      ...Object.entries(extraBackends).map(([name, port]) => [name, `http://127.0.0.1:${port}`]),
    ]),
    pid: haproxy.pid,
    configPath,
    logPath,
    stop: haproxy.stop,
  };
}
