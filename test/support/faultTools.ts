/**
 * Tools the fault tests inject faults with and watch runs by: a TCP proxy that can refuse or be
 * killed, a sampler of every process's argv, readers of a running driver's records, a download held
 * open on one HAProxy server, and lab database helpers.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { LabState } from "../../lab/lab";
import { LAB_CREDENTIALS } from "../../lab/state";
import { SERVED_BY_HEADER } from "../../lab/load/exchange";
import { findFreePort } from "../../lab/services/ports";
import { withConnection } from "../../steps/db/connection";
import { readTrustFunctionCreators } from "../../steps/db/privileges";
import type { TimelineEvent } from "../../steps/record";

const POLL_MS = 50;

/** Where a proxy forwards to: a loopback TCP port or a unix socket. */
export type ProxyTarget = { host: string; port: number } | { path: string };

/**
 * A TCP proxy on 127.0.0.1. While `refuseWhen()` holds, every new connection is reset as soon as it
 * is accepted (checked at accept, so no connection slips through after the fault begins) and open
 * ones are cut within POLL_MS; `kill()` closes the listener (connections are refused) until `listen()`.
 */
export class TcpProxy {
  refuseWhen: () => boolean = () => false;
  accepted = 0;
  refused = 0;
  private server: net.Server | undefined;
  private readonly open = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private readonly watcher: NodeJS.Timeout;

  private constructor(
    readonly port: number,
    private readonly target: ProxyTarget,
  ) {
    this.watcher = setInterval(() => {
      if (this.open.size > 0 && this.refuseWhen()) this.cutAll();
    }, POLL_MS);
    this.watcher.unref();
  }

  static async start(target: ProxyTarget): Promise<TcpProxy> {
    const proxy = new TcpProxy(await findFreePort(), target);
    await proxy.listen();
    return proxy;
  }

  /** `127.0.0.1:<port>`, as a stack config names a TCP endpoint. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Starts (again) accepting on the same port. */
  listen(): Promise<void> {
    if (this.server) return Promise.resolve();
    const server = net.createServer((client) => this.accept(client));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: this.port }, () => {
        server.off("error", reject);
        this.server = server;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every open connection: the endpoint is gone. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.cutAll();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    clearInterval(this.watcher);
    await this.kill();
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    client.on("error", () => undefined);
    if (this.refuseWhen()) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.createConnection(this.target);
    upstream.on("error", () => client.destroy());
    const pair = { client, upstream };
    this.open.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => {
      this.open.delete(pair);
      upstream.destroy();
    });
    upstream.on("close", () => client.end());
  }

  private cutAll(): void {
    for (const { client, upstream } of this.open) {
      // A reset, as a dead server or a dropped route gives; the upstream may be a unix socket.
      if (!client.destroyed) client.resetAndDestroy();
      upstream.destroy();
    }
    this.open.clear();
  }
}

export interface CommandLineSamples {
  rounds: number;
  /** Every distinct command line seen (argv joined with spaces). */
  commandLines: string[];
}

/** Reads every process's /proc/<pid>/cmdline every `intervalMs` until stop(). */
export function sampleCommandLines(intervalMs = 100): { stop(): Promise<CommandLineSamples> } {
  const seen = new Set<string>();
  let rounds = 0;
  let stopping = false;
  const sampleOnce = async (): Promise<void> => {
    const pids = (await fs.promises.readdir("/proc")).filter((name) => /^\d+$/.test(name));
    await Promise.all(
      pids.map(async (pid) => {
        try {
          const raw = await fs.promises.readFile(`/proc/${pid}/cmdline`, "utf8");
          if (raw) seen.add(raw.replace(/\0+$/, "").split("\0").join(" "));
        } catch {
          // The process ended between readdir and read.
        }
      }),
    );
    rounds++;
  };
  const loop = (async () => {
    while (!stopping) {
      const started = Date.now();
      await sampleOnce();
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return { rounds, commandLines: [...seen] };
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it holds; fails with `what` after `timeoutMs` or as soon as `giveUp()` holds. */
export async function pollFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  opts: { timeoutMs: number; giveUp?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (opts.giveUp?.()) throw new Error(`gave up waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** The records folder of the stack's most recent driver run (TestStack numbers them 1-up, 2-up, ...). */
export function latestRunDir(stackFolder: string): string | undefined {
  const runs = path.join(stackFolder, "runs");
  if (!fs.existsSync(runs)) return undefined;
  const latest = fs
    .readdirSync(runs)
    .map((name) => ({ name, index: Number.parseInt(name, 10) }))
    .filter((run) => Number.isInteger(run.index))
    .sort((a, b) => b.index - a.index)[0];
  return latest && path.join(runs, latest.name);
}

/** The JSON lines of a file another process is appending to; a line still being written is skipped. */
function jsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line) => {
      try {
        return line.trim() ? [JSON.parse(line) as T] : [];
      } catch {
        return [];
      }
    });
}

/** The timeline recorded so far by the stack's most recent run. */
export function latestTimeline(stackFolder: string): TimelineEvent[] {
  const dir = latestRunDir(stackFolder);
  return dir ? jsonLines<TimelineEvent>(path.join(dir, "timeline.jsonl")) : [];
}

/** The progress messages recorded so far by the stack's most recent run. */
export function latestProgress(stackFolder: string): string[] {
  const dir = latestRunDir(stackFolder);
  return dir ? jsonLines<{ message: string }>(path.join(dir, "progress.jsonl")).map((p) => p.message) : [];
}

export interface HeldDownload {
  /** The HAProxy server the download is in flight on. */
  server: string;
  /** Reads the rest of the body; resolves with its size and sha256. */
  finish(): Promise<{ bytes: number; sha256: string }>;
}

function openPausedDownload(url: string): Promise<{ res: http.IncomingMessage; server?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.pause();
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      const servedBy = res.headers[SERVED_BY_HEADER];
      resolve({ res, server: typeof servedBy === "string" ? servedBy : undefined });
    });
    req.on("error", reject);
  });
}

function readToEnd(res: http.IncomingMessage): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    res.on("end", () => resolve({ bytes, sha256: hash.digest("hex") }));
    res.on("error", reject);
    res.resume();
  });
}

/**
 * Starts a download of a large image through HAProxy that lands on `server` (the lab's HAProxy names
 * it in X-Served-By) and holds it unread, so HAProxy counts an open session (scur) on that server
 * until finish(). Downloads that land elsewhere are read to the end, never aborted, so HAProxy logs
 * them as normal (HAProxy balances round-robin, so a few attempts suffice).
 */
export async function holdDownloadOn(opts: {
  frontendUrl: string;
  imageId: string;
  server: string;
}): Promise<HeldDownload> {
  const url = `${opts.frontendUrl}/v2/images/${opts.imageId}/file`;
  for (let attempt = 0; attempt < 12; attempt++) {
    const { res, server } = await openPausedDownload(url);
    if (server !== opts.server) {
      await readToEnd(res);
      continue;
    }
    return { server, finish: () => readToEnd(res) };
  }
  throw new Error(`no download landed on HAProxy server ${opts.server} in 12 attempts`);
}

/** log_bin_trust_function_creators as the lab's admin reads it (straight to MariaDB, no proxy). */
export function labTrustSetting(lab: LabState): Promise<boolean> {
  return readTrustFunctionCreators({
    host: "127.0.0.1",
    port: lab.ports.mariadb,
    user: LAB_CREDENTIALS.admin.user,
    password: LAB_CREDENTIALS.admin.password,
    database: LAB_CREDENTIALS.database,
  });
}

/** Adds a database account to the lab's MariaDB (as root), e.g. one with a password of the test's own. */
export async function addLabDbUser(
  lab: LabState,
  user: string,
  password: string,
  grants: string,
): Promise<void> {
  const root = {
    host: "127.0.0.1",
    port: lab.ports.mariadb,
    user: "root",
    password: fs.readFileSync(lab.db.rootPasswordFile, "utf8").trim(),
    database: "mysql",
  };
  await withConnection(root, `create user ${user}`, async (conn) => {
    await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
    // `grants` is the test's own constant such as "ALL ON glance.*"; the user is escaped.
    await conn.query(`GRANT ${grants} TO ?@'%'`, [user]);
  });
}

/** Every `*.log` file under `dir`, recursively. */
export function logFilesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".log"))
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file).isFile());
}
