/** The lab's MariaDB and HAProxy: started (or reused) as lab up needs them, and recorded in lab.json. */
import * as path from "node:path";
import { pollUntil } from "../steps/context";
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../steps/lb/haproxyRuntime";
import { isAlive, startService } from "./processes";
import { startHaproxy } from "./services/haproxy";
import { startMariadb } from "./services/mariadb";
import {
  HAPROXY_BACKEND,
  LAB_CREDENTIALS,
  LAB_IDENTITY_HEADERS,
  type LabNode,
  type LabState,
  writeLabState,
} from "./state";

/**
 * The MariaDB `previous` recorded while it is still running; otherwise a fresh start (which reuses an
 * initialised data dir) with the lab's database and users.
 */
export async function labMariadb(
  mariadbDir: string,
  port: number,
  previous: LabState | undefined,
  outliveProcess: boolean,
  log: (line: string) => void,
): Promise<{ port: number; socket: string; pid: number }> {
  const dbAlive = previous !== undefined && isAlive(previous.db.pid, "mariadbd");
  return dbAlive
    ? { port: previous.db.port, socket: previous.db.socket, pid: previous.db.pid }
    : await startService(outliveProcess, () => startMariadb({ dir: mariadbDir, port })).then(
        async (running) => {
          log(`MariaDB up on 127.0.0.1:${running.port} (pid ${running.pid})`);
          await running.createDatabase(LAB_CREDENTIALS.database);
          await running.createUser(
            LAB_CREDENTIALS.glance.user,
            LAB_CREDENTIALS.glance.password,
            `ALL ON ${LAB_CREDENTIALS.database}.*`,
          );
          await running.createUser(
            LAB_CREDENTIALS.admin.user,
            LAB_CREDENTIALS.admin.password,
            "ALL PRIVILEGES ON *.*",
          );
          return { port: running.port, socket: running.socket, pid: running.pid };
        },
      );
}

/** Starts HAProxy in front of the nodes unless the one in `state` runs; records it in lab.json. */
export async function ensureHaproxy(
  state: LabState,
  nodes: LabNode[],
  outliveProcess: boolean,
  log: (line: string) => void,
): Promise<void> {
  if (!isAlive(state.haproxy.pid, "haproxy")) {
    const haproxy = await startService(outliveProcess, () =>
      startHaproxy({
        dir: path.join(state.dir, "haproxy"),
        backends: nodes.map((node) => ({
          name: node.name,
          address: node.address,
          selfPort: Number(new URL(node.selfUrl).port),
        })),
        requestHeaders: LAB_IDENTITY_HEADERS,
        frontendPort: state.ports.haproxyFrontend,
        backendName: HAPROXY_BACKEND,
        healthPath: "/healthcheck",
        checkIntervalMs: 1000,
      }),
    );
    state.haproxy = {
      frontendUrl: haproxy.frontendUrl,
      backendName: haproxy.backendName,
      runtimeApi: haproxy.runtimeApi,
      runtimeApiTcp: haproxy.runtimeApiTcp,
      configPath: haproxy.configPath,
      pid: haproxy.pid,
    };
    // The runtime TCP port is whatever HAProxy got; record it so stacks read it from lab.json.
    state.ports = { ...state.ports, haproxyRuntimeTcp: Number(haproxy.runtimeApiTcp.split(":").pop()) };
    writeLabState(state);
    log(`HAProxy up: ${haproxy.frontendUrl}, runtime API ${haproxy.runtimeApi} and ${haproxy.runtimeApiTcp}`);
  }
}

export async function waitBackendUp(runtimeApi: string, names: string[]): Promise<void> {
  await pollUntil(
    async () => {
      const servers = serverStatsOf(
        parseStatCsv(await runtimeCommand(runtimeApi, "show stat")),
        HAPROXY_BACKEND,
      );
      return names.every((name) => servers.find((s) => s.server === name)?.status === "UP")
        ? true
        : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250, describe: () => `HAProxy to see ${names.join(", ")} UP` },
  );
}
