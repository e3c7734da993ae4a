/**
 * HAProxy in front of a Galera cluster the way kolla-ansible and openstack-ansible run one: TCP mode,
 * one active member and the others `backup` (every write goes to one member, so Glance never meets a
 * certification conflict between members), each member health-checked by a clustercheck (Synced and
 * ready, as kolla's mariadb_clustercheck and openstack-ansible's galera check answer), not only by a
 * TCP connect: a member that is joining, a donor or outside the Primary component takes no traffic.
 *
 * The check is HAProxy's `external-check`: a script that asks the member's `wsrep_local_state` and
 * `wsrep_ready` as an account with no privileges, its password in a client option file (never in argv).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { serverStatsOf } from "../../steps/lb/haproxyRuntime";
import type { GaleraMember } from "./galera";
import { spawnHaproxy, waitUntilReady } from "./haproxyProcess";
import { findFreePort } from "./ports";

export const GALERA_BACKEND = "galera";

export interface RunningGaleraHaproxy {
  /** Where Glance's database connection goes. */
  port: number;
  /** `unix:<dir>/admin.sock` */
  runtimeApi: string;
  pid: number;
  configPath: string;
  logPath: string;
  stop(): Promise<void>;
}

export interface StartGaleraHaproxyOptions {
  dir: string;
  members: Pick<GaleraMember, "name" | "port">[];
  /** 0 or absent: pick a free port. */
  port?: number;
  /** The no-privilege account the clustercheck logs in as. */
  checkUser: { user: string; password: string };
  /** Health check interval; default 1000 ms (fall 2 rise 2). */
  checkIntervalMs?: number;
}

function clientBinary(): string {
  return ["/usr/bin/mariadb", "/usr/bin/mysql"].find((p) => fs.existsSync(p)) ?? "mariadb";
}

/** The clustercheck: exit 0 when the member at $3:$4 is Synced (wsrep_local_state 4) and ready. */
export function clustercheckScript(optionFile: string): string {
  return `#!/bin/sh
# HAProxy external-check: <proxy addr> <proxy port> <server addr> <server port>.
# Healthy when the Galera member is Synced (wsrep_local_state = 4) and wsrep_ready = ON.
status=$(${clientBinary()} --defaults-extra-file=${optionFile} --protocol=tcp -h "$3" -P "$4" \\
  --connect-timeout=1 -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_ready')" 2>/dev/null) || exit 1
echo "$status" | grep -q '^wsrep_local_state[[:space:]]4$' || exit 1
echo "$status" | grep -q '^wsrep_ready[[:space:]]ON$' || exit 1
exit 0
`;
}

export function galeraHaproxyConfig(opts: {
  port: number;
  adminSocketPath: string;
  checkCommand: string;
  checkIntervalMs: number;
  members: Pick<GaleraMember, "name" | "port">[];
}): string {
  const servers = opts.members
    .map((m, i) => `    server ${m.name} 127.0.0.1:${m.port} check${i === 0 ? "" : " backup"}`)
    .join("\n");
  return `global
    stats socket ${opts.adminSocketPath} mode 600 level admin
    stats timeout 30s
    maxconn 2048
    # HAProxy 2.x forks the external check only with these.
    external-check
    insecure-fork-wanted
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    # Glance keeps pooled connections idle for long: as kolla's mariadb listener, an hour.
    timeout client 3600s
    timeout server 3600s
    timeout check 3s

listen ${GALERA_BACKEND}
    bind 127.0.0.1:${opts.port}
    option tcpka
    option external-check
    external-check path "/usr/bin:/bin"
    external-check command ${opts.checkCommand}
    # A member marked down (crashed, left the Primary component, fell out of Synced) loses its
    # sessions at once, so no client keeps writing to it; the next connection goes to a backup.
    default-server inter ${opts.checkIntervalMs} fall 2 rise 2 on-marked-down shutdown-sessions
${servers}
`;
}

export async function startGaleraHaproxy(opts: StartGaleraHaproxyOptions): Promise<RunningGaleraHaproxy> {
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const adminSocketPath = path.join(dir, "admin.sock");
  fs.rmSync(adminSocketPath, { force: true });
  const optionFile = path.join(dir, "clustercheck.cnf");
  fs.writeFileSync(
    optionFile,
    `[client]\nuser=${opts.checkUser.user}\npassword=${opts.checkUser.password}\n`,
    { mode: 0o600 },
  );
  const checkCommand = path.join(dir, "clustercheck");
  fs.writeFileSync(checkCommand, clustercheckScript(optionFile), { mode: 0o700 });
  const port = opts.port || (await findFreePort());
  const configPath = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(
    configPath,
    galeraHaproxyConfig({
      port,
      adminSocketPath,
      checkCommand,
      checkIntervalMs: opts.checkIntervalMs ?? 1000,
      members: opts.members,
    }),
  );
  const logPath = path.join(dir, "haproxy.log");
  const haproxy = spawnHaproxy(configPath, logPath);
  const runtimeApi = `unix:${adminSocketPath}`;
  await waitUntilReady({
    haproxy,
    runtimeApi,
    logPath,
    timeoutMs: 20_000,
    problem: (rows) => {
      const servers = serverStatsOf(rows, GALERA_BACKEND);
      const notUp = servers.filter((s) => s.status !== "UP");
      if (servers.length === opts.members.length && notUp.length === 0) return undefined;
      return notUp.map((s) => `${s.server} ${s.status} (${s.checkStatus})`).join(", ");
    },
    says: {
      exited: (code) => `haproxy (Galera front) exited (code ${code}); ${configPath}`,
      notReady: (problem) => `haproxy (Galera front) did not see every member UP: ${problem}`,
    },
  });
  return { port, runtimeApi, pid: haproxy.pid, configPath, logPath, stop: haproxy.stop };
}
