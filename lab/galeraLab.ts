/**
 * The lab's Galera option (`lab up --galera`): a 3-member MariaDB Galera cluster (lab/services/galera.ts)
 * behind its own HAProxy in TCP mode, one member active and the others backup
 * (lab/services/galeraHaproxy.ts), listening where the single MariaDB would (`ports.mariadb`): the
 * Glance nodes, glance-manage and the stack's database connection all go through it. Member control
 * (`lab galera stop|kill|start|restart|status <member>`) keeps lab.json's pids current.
 */
import * as path from "node:path";
import { isAlive, startService, stopPid } from "./processes";
import {
  type GaleraCluster,
  type GaleraMemberStatus,
  createDatabaseAndUsers,
  galeraClusterStatus,
  planGaleraCluster,
  startGaleraCluster,
  startGaleraMember,
  stopGaleraCluster,
  stopGaleraMember,
} from "./services/galera";
import { GALERA_BACKEND, startGaleraHaproxy } from "./services/galeraHaproxy";
import { LAB_CREDENTIALS, type LabState, readLabState, resolveLabDir, writeLabState } from "./state";

export const GALERA_MEMBERS = 3;

/** The account the clustercheck logs in as: no privilege at all (lab-only password). */
export const GALERA_CHECK_USER = {
  user: "clustercheck",
  password: "clustercheck-lab-only-password",
} as const;

/** What lab.json records of the Galera option. */
export interface LabGalera {
  cluster: GaleraCluster;
  haproxy: {
    /** The address Glance uses: 127.0.0.1:<ports.mariadb>. */
    port: number;
    backendName: string;
    runtimeApi: string;
    configPath: string;
    logPath: string;
    pid: number;
  };
}

export function galeraDir(labDir: string): string {
  return path.join(labDir, "galera");
}

/**
 * The cluster `previous` recorded (completed: whatever is stopped is started), or a new one, and the
 * HAProxy front on `frontPort`. A new cluster gets the lab's database and users.
 */
export async function labGalera(
  labDir: string,
  frontPort: number,
  previous: LabState | undefined,
  outliveProcess: boolean,
  log: (line: string) => void,
): Promise<LabGalera> {
  const started = Date.now();
  const cluster = previous?.galera?.cluster ?? (await planGaleraCluster(galeraDir(labDir), GALERA_MEMBERS));
  const result = await startService(outliveProcess, () => startGaleraCluster(cluster, log));
  if (result.fresh) {
    await createDatabaseAndUsers(cluster, {
      database: LAB_CREDENTIALS.database,
      users: [
        { ...LAB_CREDENTIALS.glance, grants: `ALL ON ${LAB_CREDENTIALS.database}.*` },
        { ...LAB_CREDENTIALS.admin, grants: "ALL PRIVILEGES ON *.*" },
        { ...GALERA_CHECK_USER, grants: "USAGE ON *.*" },
      ],
    });
  }
  const recorded = previous?.galera?.haproxy;
  if (recorded !== undefined && isAlive(recorded.pid, "haproxy")) {
    return { cluster, haproxy: recorded };
  }
  const haproxy = await startService(outliveProcess, () =>
    startGaleraHaproxy({
      dir: path.join(galeraDir(labDir), "haproxy"),
      members: cluster.members,
      port: frontPort,
      checkUser: GALERA_CHECK_USER,
    }),
  );
  log(
    `Galera cluster up in ${Date.now() - started} ms: ${cluster.members.map((m) => `${m.name} 127.0.0.1:${m.port}`).join(", ")}; ` +
      `HAProxy front 127.0.0.1:${haproxy.port} (${cluster.members[0].name} active, the others backup)`,
  );
  return {
    cluster,
    haproxy: {
      port: haproxy.port,
      backendName: GALERA_BACKEND,
      runtimeApi: haproxy.runtimeApi,
      configPath: haproxy.configPath,
      logPath: haproxy.logPath,
      pid: haproxy.pid,
    },
  };
}

/** Stops the front and every member (the founder last, so it is the one safe to bootstrap from). */
export async function stopLabGalera(galera: LabGalera): Promise<void> {
  await stopPid(galera.haproxy.pid, "haproxy", "HAProxy (Galera front)");
  await stopGaleraCluster(galera.cluster);
}

export type GaleraMemberAction = "stop" | "kill" | "start" | "restart" | "status";

export const GALERA_MEMBER_ACTIONS: readonly GaleraMemberAction[] = [
  "stop",
  "kill",
  "start",
  "restart",
  "status",
];

/**
 * One member of a Galera lab: `stop` (clean shutdown), `kill` (SIGKILL, a crash), `start` (rejoin,
 * waits until Synced), `restart` (stop then start). Returns every member's status afterwards.
 */
export async function galeraMemberCommand(
  dirOption: string | undefined,
  action: GaleraMemberAction,
  member: string | undefined,
  opts: { outliveProcess?: boolean } = {},
): Promise<GaleraMemberStatus[]> {
  const dir = resolveLabDir(dirOption);
  const state = readLabState(dir);
  if (state?.galera === undefined) {
    throw new Error(
      `the lab at ${dir} has no Galera cluster: bring one up with "node dist/lab/cli.js up --galera"`,
    );
  }
  const { cluster } = state.galera;
  if (action !== "status") {
    if (member === undefined)
      throw new Error(`galera ${action} needs a member: ${cluster.members.map((m) => m.name).join(", ")}`);
    if (action === "stop" || action === "restart") await stopGaleraMember(cluster, member, "SIGTERM");
    if (action === "kill") await stopGaleraMember(cluster, member, "SIGKILL");
    if (action === "start" || action === "restart") {
      await startService(opts.outliveProcess === true, () => startGaleraMember(cluster, member));
    }
    writeLabState(state);
  }
  return galeraClusterStatus(cluster);
}
