/**
 * What describes a lab: its ports, credentials, nodes and services, kept in `<dir>/lab.json`
 * (LabState), which is everything a stack config or a test needs to reach it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { LabGalera } from "./galeraLab";

export const DEFAULT_LAB_DIR = "/var/tmp/glance-rolling-upgrade-lab";

export interface LabPorts {
  mariadb: number;
  haproxyFrontend: number;
  haproxyRuntimeTcp: number;
  /**
   * node-1 listens here, node-2 on the next port, and so on; after the nodes, each node's own HAProxy
   * frontend (its `worker_self_reference_url`) in the same order, then the import source.
   */
  firstNode: number;
}

/** Loopback ports from `firstNode` on a lab of `nodes` nodes uses. */
export function nodePortRun(nodes: number): number {
  return 2 * nodes + 1;
}

/** The committed local stack's ports. */
export const DEFAULT_PORTS: LabPorts = {
  mariadb: 13306,
  haproxyFrontend: 19292,
  haproxyRuntimeTcp: 19999,
  firstNode: 19301,
};

/**
 * Lab-only credentials, fixed so the committed local stack can name them. The lab listens on
 * loopback only and holds nothing but seed images; never reuse these anywhere else.
 */
export const LAB_CREDENTIALS = {
  database: "glance",
  glance: { user: "glance", password: "glance-lab-only-password" },
  admin: { user: "admin", password: "admin-lab-only-password" },
} as const;

export const HAPROXY_BACKEND = "glance";

/**
 * The identity every request to the lab's Glance carries, set by the lab's HAProxy (there is no
 * Keystone): one project, one admin user. Glance's `context` middleware reads it (lab/glance/config.ts).
 */
export const LAB_IDENTITY_HEADERS: Record<string, string> = {
  "X-Identity-Status": "Confirmed",
  "X-User-Id": "lab-user",
  "X-Project-Id": "lab-project",
  "X-Roles": "admin,member,reader",
};

/** Where the lab's slow source for `web-download` imports listens: the port after the nodes' own frontends. */
export function importSourcePort(nodes: LabNode[]): number {
  return Number(new URL(nodes[nodes.length - 1].selfUrl).port) + 1;
}

export interface LabNode {
  name: string;
  host: "127.0.0.1";
  port: number;
  /** `127.0.0.1:<port>`, as HAProxy names the server. */
  address: string;
  healthUrl: string;
  /** `<dir>/nodes/<name>`: release file, configs, pid, log, and (wheelhouse mode) `envs/<release>`. */
  dir: string;
  /** While it exists, the node's /healthcheck answers 503. */
  healthcheckDisableFile: string;
  /** The node's `worker_self_reference_url`: HAProxy's frontend for this node alone. */
  selfUrl: string;
}

export interface SeedImageRecord {
  id: string;
  name: string;
  sha256: string;
  size: number;
}

/**
 * How `glance-node install` upgrades a node. `switch` (the default, instant): every release is
 * installed once, in a shared virtualenv, and a node is pointed at another one. `wheelhouse`
 * (realistic, seconds of real work per node): the release is pip-installed offline from its local
 * wheelhouse into the node's own environment, which `glance-node prestage` can do ahead while the
 * node serves.
 */
export type UpgradeMode = "switch" | "wheelhouse";

/**
 * What serves a node's glance-api (lab/bin/glance-node server): Glance's eventlet server, or uWSGI
 * serving the module glance.wsgi.api (releases whose venv has uWSGI: 2025.1 on).
 */
export type GlanceServer = "eventlet" | "uwsgi";

export interface LabState {
  dir: string;
  /** Absent in a lab.json written before the modes existed: "switch". */
  upgradeMode?: UpgradeMode;
  /** wheelhouse mode: release -> its wheelhouse (scripts/setup-wheelhouse.sh), linked as <dir>/wheelhouses/<release>. */
  wheelhouses?: Record<string, string>;
  fromRelease: string;
  toRelease: string;
  /** Every release the nodes have a config for, with its Glance version and virtualenv. */
  releases: Record<string, { glanceVersion: string; venv: string }>;
  ports: LabPorts;
  /** `<dir>/bin/glance-node`: `glance-node <dir> start|stop|status|version|release|switch|install|prestage|manage <node> ...`. */
  glanceNodeBin: string;
  nodes: LabNode[];
  haproxy: {
    frontendUrl: string;
    backendName: string;
    /** `unix:<dir>/haproxy/admin.sock` */
    runtimeApi: string;
    /** `127.0.0.1:<port>` */
    runtimeApiTcp: string;
    configPath: string;
    pid: number;
  };
  db: {
    host: "127.0.0.1";
    port: number;
    socket: string;
    database: string;
    /** ALL ON glance.* only (no SUPER): what Glance and the migrations run as. */
    glance: { user: string; password: string };
    /** Has SUPER (ALL PRIVILEGES ON *.*): for log_bin_trust_function_creators and backups. */
    admin: { user: string; password: string };
    /** root's random password, readable by root only. */
    rootPasswordFile: string;
    /** The CA that signed MariaDB's TLS certificate (for `database.tls` with `database.caFile`). */
    caFile: string;
    pid: number;
  };
  /** Large images uploaded through HAProxy at lab up, for the load client to download and verify. */
  seedImages: SeedImageRecord[];
  /** The lab ALB in front of the same nodes (`lab up --alb`), beside HAProxy; absent otherwise. */
  alb?: LabAlbState;
  /**
   * `lab up --galera`: the cluster and its HAProxy front, which listens on `db.port` (`ports.mariadb`)
   * in place of the single MariaDB. Absent for the single-server lab.
   */
  galera?: LabGalera;
}

/** The lab ALB (lab/labAlb.ts): moto's ELBv2 with a data plane, one target group of the lab's nodes. */
export interface LabAlbState {
  /** The albMain process (moto is its child). */
  pid: number;
  /** The ELBv2 API with the data plane's behaviour: the stack's `loadBalancer.endpoint`. */
  endpoint: string;
  /** moto itself (EC2). */
  motoEndpoint: string;
  region: string;
  targetGroupArn: string;
  /** The listener: clients send their requests here. */
  frontendUrl: string;
  /** One line per request, in HAProxy's httplog format (lab/load/haproxyLog.ts reads it). */
  logPath: string;
  /** Node name -> its EC2 instance id in moto (the stack's `nodes[].instanceId`). */
  instanceIds: Record<string, string>;
  /** The target group's port (the stack's `loadBalancer.port`). */
  port: number;
  deregistrationDelaySeconds: number;
  propagationLagMs: number;
}

export function resolveLabDir(dir?: string): string {
  return path.resolve(dir ?? process.env.GLANCE_LAB_DIR ?? DEFAULT_LAB_DIR);
}

export function labStatePath(dir: string): string {
  return path.join(dir, "lab.json");
}

export function readLabState(dir: string): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(labStatePath(resolveLabDir(dir)), "utf8")) as LabState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(
      `${labStatePath(dir)} is unreadable (${(err as Error).message}): run "lab down --purge" and "lab up"`,
    );
  }
}

export function writeLabState(state: LabState): void {
  const file = labStatePath(state.dir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}
