/**
 * The local rehearsal lab: real Glance nodes (from PyPI, one virtualenv per release) behind a real
 * HAProxy, on a real MariaDB with binary logging, all on loopback. `labUp` writes `<dir>/lab.json`
 * (LabState), which is everything a stack config or a test needs to reach it; `labDown` stops it.
 *
 * Node control is `<dir>/bin/glance-node` (a copy of lab/bin/glance-node), the same command the
 * rolling upgrade's per-node steps run.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { pollUntil } from "../steps/context";
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../steps/lb/haproxyRuntime";
import { LAB_POLICY_YAML, healthcheckDisableFile, writeNodeConfig } from "./glance/config";
import { RELEASES, releaseInfo } from "./releases";
import { startHaproxy } from "./services/haproxy";
import { startMariadb } from "./services/mariadb";

export const DEFAULT_LAB_DIR = "/var/tmp/glance-rolling-upgrade-lab";

export interface LabPorts {
  mariadb: number;
  haproxyFrontend: number;
  haproxyRuntimeTcp: number;
  /** node-1 listens here, node-2 on the next port, and so on. */
  firstNode: number;
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
const SEED_IMAGE_COUNT = 2;
const SEED_IMAGE_BYTES = 8 * 1024 * 1024;
const NODE_HEALTH_TIMEOUT_MS = 60_000;
const POLL_MS = 150;

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
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /**
   * Keep MariaDB and HAProxy running after this process exits (the CLI). By default the service
   * helpers end them when the process exits, so a test that dies leaves nothing behind.
   */
  outliveProcess?: boolean;
}

export interface LabNode {
  name: string;
  host: "127.0.0.1";
  port: number;
  /** `127.0.0.1:<port>`, as HAProxy names the server. */
  address: string;
  healthUrl: string;
  /** `<dir>/nodes/<name>`: release file, configs, pid, log. */
  dir: string;
  /** While it exists, the node's /healthcheck answers 503. */
  healthcheckDisableFile: string;
}

export interface SeedImageRecord {
  id: string;
  name: string;
  sha256: string;
  size: number;
}

export interface LabState {
  dir: string;
  fromRelease: string;
  toRelease: string;
  /** Every release the nodes have a config for, with its Glance version and virtualenv. */
  releases: Record<string, { glanceVersion: string; venv: string }>;
  ports: LabPorts;
  /** `<dir>/bin/glance-node`: `glance-node <dir> start|stop|status|version|release|switch|manage <node> ...`. */
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
}

export function resolveLabDir(dir?: string): string {
  return path.resolve(dir ?? process.env.GLANCE_LAB_DIR ?? DEFAULT_LAB_DIR);
}

/** Where scripts/setup-glance.sh puts a release's virtualenv. */
export function venvDir(release: string): string {
  const cacheRoot =
    process.env.GRU_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "glance-rolling-upgrade");
  return path.join(cacheRoot, "glance-venvs", release);
}

/** The Glance version an installed venv holds (setup-glance.sh's completion stamp), if any. */
export function installedGlanceVersion(release: string): string | undefined {
  try {
    return fs.readFileSync(path.join(venvDir(release), ".gru-installed"), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Throws the operator-facing error when a release's venv is missing or holds another version. */
export function requireVenv(release: string): string {
  const wanted = releaseInfo(release).glanceVersion;
  const got = installedGlanceVersion(release);
  if (got !== wanted) {
    throw new Error(
      `the Glance ${release} virtualenv is ${got === undefined ? "missing" : `at ${got}, not ${wanted}`} ` +
        `(${venvDir(release)}): run "bash scripts/setup-glance.sh ${release}" first`,
    );
  }
  return venvDir(release);
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

function writeLabState(state: LabState): void {
  const file = labStatePath(state.dir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

export interface GlanceNodeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `<dir>/bin/glance-node <dir> <args...>` and returns its exit code and output. */
export function runGlanceNode(dir: string, args: string[], timeoutMs = 120_000): Promise<GlanceNodeResult> {
  const bin = path.join(dir, "bin", "glance-node");
  return new Promise((resolve) => {
    execFile(bin, [dir, ...args], { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({
        code,
        stdout,
        stderr: err !== null && typeof err.code !== "number" ? `${stderr}${err.message}` : stderr,
      });
    });
  });
}

async function glanceNodeOrThrow(dir: string, args: string[]): Promise<string> {
  const result = await runGlanceNode(dir, args);
  if (result.code !== 0) {
    throw new Error(`glance-node ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

/** Polls a node's /healthcheck until it answers 200; returns the milliseconds it took. */
export async function waitNodeHealthy(node: LabNode, timeoutMs = NODE_HEALTH_TIMEOUT_MS): Promise<number> {
  const started = Date.now();
  await pollUntil(async () => ((await httpStatus(node.healthUrl)) === 200 ? true : undefined), {
    timeoutMs,
    intervalMs: POLL_MS,
    describe: () =>
      `${node.name} to answer 200 on ${node.healthUrl} (log: ${path.join(node.dir, "glance-api.log")})`,
  });
  return Date.now() - started;
}

function isAlive(pid: number, commandPart: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(commandPart);
  } catch {
    return false;
  }
}

async function stopPid(pid: number, commandPart: string, what: string): Promise<void> {
  if (!isAlive(pid, commandPart)) return;
  process.kill(pid, "SIGTERM");
  try {
    await pollUntil(async () => (isAlive(pid, commandPart) ? undefined : true), {
      timeoutMs: 30_000,
      intervalMs: POLL_MS,
      describe: () => `${what} (pid ${pid}) to exit after SIGTERM`,
    });
  } catch {
    process.kill(pid, "SIGKILL");
  }
}

function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

/** Every release whose venv is installed at its expected version (so nodes can be switched to it). */
function installedReleases(required: string[]): Record<string, { glanceVersion: string; venv: string }> {
  for (const release of required) requireVenv(release);
  const releases: Record<string, { glanceVersion: string; venv: string }> = {};
  for (const [release, info] of Object.entries(RELEASES)) {
    if (installedGlanceVersion(release) === info.glanceVersion) {
      releases[release] = { glanceVersion: info.glanceVersion, venv: venvDir(release) };
    }
  }
  return releases;
}

function databaseUrl(port: number): string {
  const { user, password } = LAB_CREDENTIALS.glance;
  return `mysql+pymysql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${LAB_CREDENTIALS.database}`;
}

/** lab/bin/glance-node, found from the TypeScript source (lab/) or the compiled module (dist/lab/). */
function glanceNodeSource(): string {
  const candidates = [
    path.join(__dirname, "bin", "glance-node"),
    path.join(__dirname, "..", "..", "lab", "bin", "glance-node"),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined)
    throw new Error(`lab/bin/glance-node not found (looked at ${candidates.join(", ")})`);
  return found;
}

/** Files: bin copy, venv links, policy, and each node's configs (rewritten every time; cheap). */
function writeLabFiles(
  dir: string,
  nodes: LabNode[],
  releases: LabState["releases"],
  mariadbPort: number,
  fromRelease: string,
): void {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  fs.copyFileSync(glanceNodeSource(), path.join(dir, "bin", "glance-node"));
  fs.chmodSync(path.join(dir, "bin", "glance-node"), 0o755);
  fs.mkdirSync(path.join(dir, "venvs"), { recursive: true });
  for (const [release, { venv }] of Object.entries(releases)) {
    const link = path.join(dir, "venvs", release);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(venv, link);
  }
  fs.mkdirSync(path.join(dir, "etc"), { recursive: true });
  const policyFile = path.join(dir, "etc", "policy.yaml");
  fs.writeFileSync(policyFile, LAB_POLICY_YAML);
  const imagesDir = path.join(dir, "images");
  fs.mkdirSync(imagesDir, { recursive: true });
  for (const node of nodes) {
    for (const [release, { venv }] of Object.entries(releases)) {
      writeNodeConfig({
        nodeDir: node.dir,
        release,
        venv,
        bindPort: node.port,
        databaseUrl: databaseUrl(mariadbPort),
        imagesDir,
        policyFile,
      });
    }
    // A node keeps the release it was switched to; only a new node starts on the fleet's release.
    const releaseFile = path.join(node.dir, "release");
    if (!fs.existsSync(releaseFile)) fs.writeFileSync(releaseFile, `${fromRelease}\n`);
  }
}

function shapeMismatch(
  state: LabState,
  nodes: number,
  fromRelease: string,
  ports: LabPorts,
): string | undefined {
  if (state.nodes.length !== nodes) return `${state.nodes.length} nodes, not ${nodes}`;
  if (state.fromRelease !== fromRelease) return `fleet release ${state.fromRelease}, not ${fromRelease}`;
  if (state.ports.mariadb !== ports.mariadb || state.ports.haproxyFrontend !== ports.haproxyFrontend)
    return "other ports";
  if (state.ports.firstNode !== ports.firstNode) return "other node ports";
  return undefined;
}

function uploadImage(frontendUrl: string, name: string, bytes: Buffer): Promise<string> {
  const call = (method: string, urlPath: string, body: Buffer, contentType: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        new URL(urlPath, frontendUrl),
        {
          method,
          agent: false,
          headers: { "content-type": contentType, "content-length": body.length },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if ((res.statusCode ?? 0) >= 300)
              reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
            else resolve(text);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer within 60 s`)));
      req.on("error", reject);
      req.end(body);
    });
  return call(
    "POST",
    "/v2/images",
    Buffer.from(JSON.stringify({ name, disk_format: "raw", container_format: "bare" })),
    "application/json",
  ).then(async (created) => {
    const id = (JSON.parse(created) as { id: string }).id;
    await call("PUT", `/v2/images/${id}/file`, bytes, "application/octet-stream");
    return id;
  });
}

async function waitBackendUp(runtimeApi: string, names: string[]): Promise<void> {
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

/**
 * Starts a service; with `outlive`, drops the process-exit hooks its helper registered to kill it
 * (the helpers have no option for that yet), so it keeps running after the CLI exits.
 */
async function startService<T>(outlive: boolean, start: () => Promise<T>): Promise<T> {
  const hooksBefore = new Set(process.listeners("exit"));
  const service = await start();
  if (outlive) {
    for (const hook of process.listeners("exit"))
      if (!hooksBefore.has(hook)) process.removeListener("exit", hook);
  }
  return service;
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

  const previous = readLabState(dir);
  if (previous !== undefined) {
    const mismatch = shapeMismatch(previous, nodeCount, fromRelease, ports);
    if (mismatch !== undefined) {
      throw new Error(
        `the lab at ${dir} has ${mismatch}: run "node dist/lab/cli.js down --purge" first, or pick another dir`,
      );
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  const nodes: LabNode[] = nodeNames(nodeCount).map((name, i) => {
    const port = ports.firstNode + i;
    const nodeDir = path.join(dir, "nodes", name);
    return {
      name,
      host: "127.0.0.1",
      port,
      address: `127.0.0.1:${port}`,
      healthUrl: `http://127.0.0.1:${port}/healthcheck`,
      dir: nodeDir,
      healthcheckDisableFile: healthcheckDisableFile(nodeDir),
    };
  });
  writeLabFiles(dir, nodes, releases, ports.mariadb, fromRelease);

  try {
    return await bringUp(dir, {
      nodes,
      releases,
      fromRelease,
      toRelease,
      ports,
      previous,
      log,
      outliveProcess: opts.outliveProcess === true,
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
    fromRelease: string;
    toRelease: string;
    ports: LabPorts;
    previous: LabState | undefined;
    log: (line: string) => void;
    outliveProcess: boolean;
  },
): Promise<LabState> {
  const { nodes, log, previous } = p;
  const started = Date.now();

  // MariaDB: reuses an initialised data dir.
  const mariadbDir = path.join(dir, "mariadb");
  const dbAlive = previous !== undefined && isAlive(previous.db.pid, "mariadbd");
  const db = dbAlive
    ? { port: previous.db.port, socket: previous.db.socket, pid: previous.db.pid }
    : await startService(p.outliveProcess, () =>
        startMariadb({ dir: mariadbDir, port: p.ports.mariadb }),
      ).then(async (running) => {
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
      });
  const state: LabState = {
    dir,
    fromRelease: p.fromRelease,
    toRelease: p.toRelease,
    releases: p.releases,
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
      rootPasswordFile: path.join(mariadbDir, "root-password"),
      caFile: path.join(mariadbDir, "tls", "ca.pem"),
      pid: db.pid,
    },
    seedImages: previous?.seedImages ?? [],
  };
  writeLabState(state);

  // Schema: release A's `db sync` on a fresh database, before any node serves.
  const dbMarker = path.join(mariadbDir, "glance-schema-initialised");
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
  if (!isAlive(state.haproxy.pid, "haproxy")) {
    const haproxy = await startService(p.outliveProcess, () =>
      startHaproxy({
        dir: path.join(dir, "haproxy"),
        backends: nodes.map((node) => ({ name: node.name, address: node.address })),
        frontendPort: p.ports.haproxyFrontend,
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
  await waitBackendUp(
    state.haproxy.runtimeApi,
    nodes.map((node) => node.name),
  );

  if (state.seedImages.length < SEED_IMAGE_COUNT) {
    for (let i = state.seedImages.length; i < SEED_IMAGE_COUNT; i++) {
      const bytes = randomBytes(SEED_IMAGE_BYTES);
      const name = `seed-${i + 1}`;
      const id = await uploadImage(state.haproxy.frontendUrl, name, bytes);
      state.seedImages.push({
        id,
        name,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        size: bytes.length,
      });
    }
    writeLabState(state);
    log(`seed images uploaded: ${state.seedImages.map((s) => `${s.name} ${s.id}`).join(", ")}`);
  }
  log(`lab up in ${Date.now() - started} ms: ${state.haproxy.frontendUrl} (state in ${labStatePath(dir)})`);
  return state;
}

/** Lab-owned entries of the lab dir, what `purge` removes (never the dir itself, never anything else). */
const LAB_ENTRIES = [
  "lab.json",
  "lab.json.tmp",
  "bin",
  "venvs",
  "etc",
  "images",
  "nodes",
  "haproxy",
  "mariadb",
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
  const mariadbPidFile = path.join(dir, "mariadb", "mariadbd.pid");
  const mariadbPid =
    state?.db.pid ??
    (fs.existsSync(mariadbPidFile) ? Number(fs.readFileSync(mariadbPidFile, "utf8").trim()) : 0);
  if (mariadbPid > 0) await stopPid(mariadbPid, "mariadbd", "MariaDB");
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
  const mariadb = isAlive(state.db.pid, "mariadbd") ? "running" : "stopped";
  const haproxy = isAlive(state.haproxy.pid, "haproxy") ? "running" : "stopped";
  const up =
    mariadb === "running" &&
    haproxy === "running" &&
    Object.values(nodes).every((n) => n.status === "running");
  return { dir, up, mariadb, haproxy, nodes };
}
