/**
 * A fleet of lightweight stand-ins for Glance nodes, to measure the engine at 10 and 50 nodes on a
 * 2-core machine: one small HTTP server per node answering 200 (in this process), a real HAProxy
 * health-checking them, a real MariaDB with binary logging (no Glance schema), and a `glance-node`
 * stand-in whose stop/start/switch/manage do nothing and whose `version` prints the target version.
 * The stack config is the lab's own (lab/stack.ts), so the program builds the same steps.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { HAPROXY_BACKEND, LAB_CREDENTIALS } from "../../lab/state";
import { releaseInfo } from "../../lab/releases";
import { startHaproxy } from "../../lab/services/haproxy";
import { startMariadb } from "../../lab/services/mariadb";
import type { LabLayout } from "../../lab/stack";
import type { DbEndpoint } from "../../steps/db/connection";

export interface StandinFleet {
  layout: LabLayout;
  stop(): Promise<void>;
}

/** HAProxy's check interval for the stand-ins: short, so an admit (rise 2) costs ~0.2 s, not ~2 s. */
export const STANDIN_CHECK_INTERVAL_MS = 100;

function glanceNodeStandin(version: string): string {
  return `#!/bin/sh
# glance-node stand-in: <lab-dir> <action> <node> [args]; nothing to stop, start or migrate.
case "$2" in
  status) echo stopped ;;
  version) echo ${version} ;;
  # The config check's program arrives on stdin: read it, and answer as the check does when all is read.
  python) cat >/dev/null; echo "glance ${version} reads every option of the stand-in's config (0)" ;;
  *) : ;;
esac
`;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * The three Glance tables the steps read (a drain waits for the image imports staged on its node;
 * preflight lists stuck ones), with only the columns they query, empty: no import is ever in flight.
 */
const IMPORT_TABLES = [
  `CREATE TABLE IF NOT EXISTS images (id VARCHAR(36) PRIMARY KEY, status VARCHAR(30) NOT NULL,
     deleted TINYINT(1) NOT NULL DEFAULT 0, updated_at DATETIME NULL)`,
  `CREATE TABLE IF NOT EXISTS image_properties (id INT AUTO_INCREMENT PRIMARY KEY,
     image_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL, value TEXT,
     deleted TINYINT(1) NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS tasks (id VARCHAR(36) PRIMARY KEY, status VARCHAR(30) NOT NULL,
     deleted TINYINT(1) NOT NULL DEFAULT 0)`,
];

async function createImportTables(endpoint: DbEndpoint): Promise<void> {
  const { host, port, user, password, database } = endpoint;
  const conn = await mysql.createConnection({ host, port, user, password, database });
  try {
    for (const statement of IMPORT_TABLES) await conn.query(statement);
  } finally {
    await conn.end();
  }
}

export async function startStandinFleet(
  nodes: number,
  fromRelease = "2023.2",
  toRelease = "2024.1",
): Promise<StandinFleet> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-bench-"));
  const servers: http.Server[] = [];
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < nodes; i++) {
      const server = http.createServer((_req, res) =>
        res.writeHead(200, { "content-type": "text/plain" }).end("OK"),
      );
      servers.push(server);
      ports.push(await listen(server));
    }
    const db = await startMariadb({ dir: path.join(dir, "mariadb") });
    stops.push(db.stop);
    await db.createDatabase(LAB_CREDENTIALS.database);
    await createImportTables(db.rootEndpoint(LAB_CREDENTIALS.database));
    await db.createUser(
      LAB_CREDENTIALS.glance.user,
      LAB_CREDENTIALS.glance.password,
      `ALL ON ${LAB_CREDENTIALS.database}.*`,
    );
    await db.createUser(LAB_CREDENTIALS.admin.user, LAB_CREDENTIALS.admin.password, "ALL PRIVILEGES ON *.*");

    const names = ports.map((_, i) => `node-${i + 1}`);
    const haproxy = await startHaproxy({
      dir: path.join(dir, "haproxy"),
      backends: names.map((name, i) => ({ name, address: `127.0.0.1:${ports[i]}` })),
      backendName: HAPROXY_BACKEND,
      checkIntervalMs: STANDIN_CHECK_INTERVAL_MS,
    });
    stops.push(haproxy.stop);

    const glanceNodeBin = path.join(dir, "bin", "glance-node");
    fs.mkdirSync(path.dirname(glanceNodeBin), { recursive: true });
    fs.writeFileSync(glanceNodeBin, glanceNodeStandin(releaseInfo(toRelease).glanceVersion), { mode: 0o755 });
    fs.mkdirSync(path.join(dir, "backups"), { recursive: true });
    return {
      layout: {
        dir,
        fromRelease,
        toRelease,
        glanceNodeBin,
        ports: {
          mariadb: db.port,
          haproxyFrontend: Number(new URL(haproxy.frontendUrl).port),
          haproxyRuntimeTcp: Number(haproxy.runtimeApiTcp.split(":").pop()),
          firstNode: ports[0],
        },
        nodes: names.map((name, i) => ({ name, healthUrl: `http://127.0.0.1:${ports[i]}/healthcheck` })),
        haproxy: { runtimeApi: haproxy.runtimeApi },
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
