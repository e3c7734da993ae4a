/**
 * The local rehearsal lab: real Glance nodes (from PyPI, one virtualenv per release) behind a real
 * HAProxy, on a real MariaDB with binary logging, all on loopback. `labUp` writes `<dir>/lab.json`
 * (LabState), which is everything a stack config or a test needs to reach it; `labDown` stops it.
 *
 * Node control is `<dir>/bin/glance-node` (glanceNode.ts). The names many tests use are exported
 * here too.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { galeraDir, labGalera, stopLabGalera } from "./galeraLab";
import { glanceNodeOrThrow, waitNodeHealthy } from "./glanceNode";
import { writeLabFiles } from "./labFiles";
import { ensureHaproxy, labMariadb, waitBackendUp } from "./labServices";
import { ensureLabAlb, type LabAlbOptions, stopLabAlb } from "./labAlb";
import { labNodes, shapeMismatch } from "./layout";
import { isAlive, stopPid } from "./processes";
import { completeSeedImages } from "./seedImages";
import {
  DEFAULT_PORTS,
  type GlanceServer,
  HAPROXY_BACKEND,
  LAB_CREDENTIALS,
  type LabNode,
  type LabPorts,
  type LabState,
  labStatePath,
  type UpgradeMode,
  readLabState,
  resolveLabDir,
  writeLabState,
} from "./state";
import { installedReleases, installedWheelhouses } from "./venvs";

export { runGlanceNode } from "./glanceNode";
export { HAPROXY_BACKEND, type LabState, type UpgradeMode } from "./state";

export interface LabOptions {
  /** Default: env GLANCE_LAB_DIR, else /var/tmp/glance-rolling-upgrade-lab. */
  dir?: string;
  /** Default 3. */
  nodes?: number;
  /** Release the fleet starts on; default "2023.2". */
  fromRelease?: string;
  /** Release the upgrade goes to (its venv must exist too); default "2024.1". */
  toRelease?: string;
  /** Default DEFAULT_PORTS. */
  ports?: LabPorts;
  /**
   * How `glance-node install` upgrades a node (UpgradeMode). Default "switch": instant, what the
   * e2e suite runs. "wheelhouse": a real offline pip install per node from the release's wheelhouse
   * (scripts/setup-wheelhouse.sh), seconds of work, which `glance-node prestage` can do ahead.
   */
  upgradeMode?: UpgradeMode;
  /** What serves a new node's glance-api (GlanceServer); default "eventlet". A node keeps its own. */
  server?: GlanceServer;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /**
   * Keep MariaDB and HAProxy running after this process exits (the CLI). By default the service
   * helpers end them when the process exits, so a test that dies leaves nothing behind.
   */
  outliveProcess?: boolean;
  /**
   * Also a lab ALB in front of the nodes (lab/labAlb.ts: moto's ELBv2 with a data plane of AWS's
   * behaviour), beside HAProxy; recorded in lab.json as `alb`. Off by default.
   */
  alb?: boolean | LabAlbOptions;
  /**
   * A 3-member MariaDB Galera cluster behind an HAProxy front (one member active, the others backup)
   * in place of the single MariaDB (lab/galeraLab.ts). Default false.
   */
  galera?: boolean;
}

/**
 * Brings the lab up, or reuses it: a lab already described by lab.json with the same shape is
 * completed (whatever is stopped is started; data, node releases and seed images are kept).
 */
export async function labUp(opts: LabOptions = {}): Promise<LabState> {
  const dir = resolveLabDir(opts.dir);
  const log = opts.log ?? ((line: string) => process.stderr.write(`[lab] ${line}\n`));
  const nodeCount = opts.nodes ?? 3;
  const fromRelease = opts.fromRelease ?? "2023.2";
  const toRelease = opts.toRelease ?? "2024.1";
  const ports = opts.ports ?? DEFAULT_PORTS;
  if (nodeCount < 1) throw new Error(`a lab needs at least 1 node, not ${nodeCount}`);
  const releases = installedReleases([fromRelease, toRelease]);
  const upgradeMode = opts.upgradeMode ?? "switch";
  const wheelhouses =
    upgradeMode === "wheelhouse" ? installedWheelhouses([fromRelease, toRelease], Object.keys(releases)) : {};

  const previous = readLabState(dir);
  if (previous !== undefined) {
    const mismatch = shapeMismatch(previous, nodeCount, fromRelease, ports);
    if (mismatch !== undefined) {
      throw new Error(
        `the lab at ${dir} has ${mismatch}: run "node dist/lab/cli.js down --purge" first, or pick another dir`,
      );
    }
    if ((previous.galera !== undefined) !== (opts.galera === true)) {
      throw new Error(
        `the lab at ${dir} has ${previous.galera ? "a Galera cluster" : "a single MariaDB"}: run ` +
          `"node dist/lab/cli.js down --purge" first, or pick another dir`,
      );
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  const nodes = labNodes(dir, nodeCount, ports);
  // The mode may change on a reused lab: environments nodes already have stay, and are used.
  writeLabFiles(
    dir,
    nodes,
    releases,
    ports.mariadb,
    fromRelease,
    { mode: upgradeMode, wheelhouses },
    opts.server ?? "eventlet",
  );

  try {
    return await bringUp(dir, {
      nodes,
      releases,
      upgradeMode,
      wheelhouses,
      fromRelease,
      toRelease,
      ports,
      previous,
      log,
      outliveProcess: opts.outliveProcess === true,
      alb: opts.alb === true ? {} : opts.alb === false ? undefined : opts.alb,
      galera: opts.galera === true,
    });
  } catch (err) {
    log(`lab up failed; stopping what it started (logs stay in ${dir})`);
    await labDown(dir, { log });
    throw err;
  }
}

async function bringUp(
  dir: string,
  p: {
    nodes: LabNode[];
    releases: LabState["releases"];
    upgradeMode: UpgradeMode;
    wheelhouses: Record<string, string>;
    fromRelease: string;
    toRelease: string;
    ports: LabPorts;
    previous: LabState | undefined;
    log: (line: string) => void;
    outliveProcess: boolean;
    alb?: LabAlbOptions;
    galera: boolean;
  },
): Promise<LabState> {
  const { nodes, log, previous } = p;
  const started = Date.now();

  // MariaDB: reuses an initialised data dir.
  const mariadbDir = path.join(dir, "mariadb");
  // Galera: the cluster and its HAProxy front on ports.mariadb, where Glance connects.
  const galera = p.galera
    ? await labGalera(dir, p.ports.mariadb, previous, p.outliveProcess, log)
    : undefined;
  const db = galera
    ? { port: galera.haproxy.port, socket: galera.cluster.members[0].socket, pid: 0 }
    : await labMariadb(mariadbDir, p.ports.mariadb, previous, p.outliveProcess, log);
  const dbDir = galera ? galeraDir(dir) : mariadbDir;
  const state: LabState = {
    dir,
    fromRelease: p.fromRelease,
    toRelease: p.toRelease,
    releases: p.releases,
    upgradeMode: p.upgradeMode,
    ...(p.upgradeMode === "wheelhouse" ? { wheelhouses: p.wheelhouses } : {}),
    ports: p.ports,
    glanceNodeBin: path.join(dir, "bin", "glance-node"),
    nodes,
    haproxy: previous?.haproxy ?? {
      frontendUrl: `http://127.0.0.1:${p.ports.haproxyFrontend}`,
      backendName: HAPROXY_BACKEND,
      runtimeApi: `unix:${path.join(dir, "haproxy", "admin.sock")}`,
      runtimeApiTcp: "",
      configPath: path.join(dir, "haproxy", "haproxy.cfg"),
      pid: 0,
    },
    db: {
      host: "127.0.0.1",
      port: db.port,
      socket: db.socket,
      database: LAB_CREDENTIALS.database,
      glance: { ...LAB_CREDENTIALS.glance },
      admin: { ...LAB_CREDENTIALS.admin },
      rootPasswordFile: path.join(dbDir, "root-password"),
      // The Galera lab offers no TLS: no CA.
      caFile: galera ? "" : path.join(mariadbDir, "tls", "ca.pem"),
      pid: db.pid,
    },
    seedImages: previous?.seedImages ?? [],
    ...(previous?.alb ? { alb: previous.alb } : {}),
    ...(galera ? { galera } : {}),
  };
  writeLabState(state);

  // Schema: release A's `db sync` on a fresh database, before any node serves.
  const dbMarker = path.join(dbDir, "glance-schema-initialised");
  if (!fs.existsSync(dbMarker)) {
    const syncStarted = Date.now();
    await glanceNodeOrThrow(dir, ["manage", nodes[0].name, "db", "sync"]);
    fs.writeFileSync(dbMarker, `${p.fromRelease}\n`);
    log(`glance database initialised with the ${p.fromRelease} schema (${Date.now() - syncStarted} ms)`);
  }

  // Nodes: each on its current release.
  for (const node of nodes) {
    if ((await glanceNodeOrThrow(dir, ["status", node.name])) !== "running") {
      await glanceNodeOrThrow(dir, ["start", node.name]);
    }
  }
  const healthTimes = await Promise.all(nodes.map((node) => waitNodeHealthy(node)));
  log(`nodes healthy: ${nodes.map((n, i) => `${n.name} (${healthTimes[i]} ms)`).join(", ")}`);

  // HAProxy, after the nodes, so its first checks find them healthy.
  await ensureHaproxy(state, nodes, p.outliveProcess, log);
  await waitBackendUp(
    state.haproxy.runtimeApi,
    nodes.map((node) => node.name),
  );

  if (p.alb !== undefined) await ensureLabAlb(state, nodes, p.alb, p.outliveProcess, log);

  await completeSeedImages(state, log);
  log(`lab up in ${Date.now() - started} ms: ${state.haproxy.frontendUrl} (state in ${labStatePath(dir)})`);
  return state;
}

/** Lab-owned entries of the lab dir, what `purge` removes (never the dir itself, never anything else). */
const LAB_ENTRIES = [
  "lab.json",
  "lab.json.tmp",
  "bin",
  "venvs",
  "wheelhouses",
  "upgrade-mode",
  "etc",
  "images",
  "nodes",
  "haproxy",
  "mariadb",
  "alb",
  "galera",
];

/** Stops the nodes, HAProxy and MariaDB (idempotent). With purge, also deletes the lab's data. */
export async function labDown(
  dirOption?: string,
  opts: { purge?: boolean; log?: (line: string) => void } = {},
): Promise<void> {
  const dir = resolveLabDir(dirOption);
  const log = opts.log ?? ((line: string) => process.stderr.write(`[lab] ${line}\n`));
  const state = fs.existsSync(labStatePath(dir)) ? readLabState(dir) : undefined;
  const nodesDir = path.join(dir, "nodes");
  const nodes = fs.existsSync(nodesDir) ? fs.readdirSync(nodesDir) : [];
  if (fs.existsSync(path.join(dir, "bin", "glance-node"))) {
    await Promise.all(nodes.map((node) => glanceNodeOrThrow(dir, ["stop", node])));
  }
  if (state !== undefined && state.haproxy.pid > 0) await stopPid(state.haproxy.pid, "haproxy", "HAProxy");
  await stopLabAlb(state);
  const mariadbPidFile = path.join(dir, "mariadb", "mariadbd.pid");
  const mariadbPid =
    state?.db.pid ??
    (fs.existsSync(mariadbPidFile) ? Number(fs.readFileSync(mariadbPidFile, "utf8").trim()) : 0);
  if (mariadbPid > 0) await stopPid(mariadbPid, "mariadbd", "MariaDB");
  if (state?.galera !== undefined) await stopLabGalera(state.galera);
  log(`lab at ${dir} stopped`);
  if (opts.purge === true) {
    for (const entry of LAB_ENTRIES) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    log(`lab data at ${dir} removed`);
  }
}

export interface LabStatus {
  dir: string;
  up: boolean;
  mariadb: "running" | "stopped";
  haproxy: "running" | "stopped";
  nodes: Record<string, { status: string; release: string; version: string }>;
}

export async function labStatus(dirOption?: string): Promise<LabStatus> {
  const dir = resolveLabDir(dirOption);
  const state = readLabState(dir);
  if (state === undefined) return { dir, up: false, mariadb: "stopped", haproxy: "stopped", nodes: {} };
  const nodes: LabStatus["nodes"] = {};
  for (const node of state.nodes) {
    nodes[node.name] = {
      status: await glanceNodeOrThrow(dir, ["status", node.name]),
      release: await glanceNodeOrThrow(dir, ["release", node.name]),
      version: await glanceNodeOrThrow(dir, ["version", node.name]),
    };
  }
  const mariadb = (
    state.galera
      ? isAlive(state.galera.haproxy.pid, "haproxy") &&
        state.galera.cluster.members.every((m) => isAlive(m.pid, "mariadbd"))
      : isAlive(state.db.pid, "mariadbd")
  )
    ? "running"
    : "stopped";
  const haproxy = isAlive(state.haproxy.pid, "haproxy") ? "running" : "stopped";
  const up =
    mariadb === "running" &&
    haproxy === "running" &&
    Object.values(nodes).every((n) => n.status === "running");
  return { dir, up, mariadb, haproxy, nodes };
}
