/**
 * Continuous client load against the lab's Glance endpoint (through HAProxy), counting every failure.
 *
 * Workers loop until stop(): listers (GET /v2/images), uploaders (create, upload a small image,
 * read it back, delete it), fast downloaders and slow downloaders (GET /v2/images/ID/file of the
 * large seed images, sha256-verified; the slow ones read at a capped rate, so a download lasts
 * seconds and is in flight while a node drains).
 *
 * Connections are kept alive, as real Glance clients do (python-glanceclient and keystoneauth use a
 * requests Session). That does not pin a client to a server: in HTTP mode HAProxy load-balances
 * each request on its own, so a drained server gets no new request from a kept-alive client
 * connection. A pooled connection is dropped after 2 s idle, before HAProxy's own
 * `timeout http-keep-alive` (5 s) could close it under a request being sent. If it closes anyway
 * (this process stalled past 2 s), a GET sent on that reused connection and reset before any
 * answer is retried once on another, as Node's documentation advises for keep-alive agents
 * (`request.reusedSocket`) and RFC 9112 section 9.3.1 allows for idempotent requests. HAProxy
 * never saw such a request (it logs every request it reads); each retry is counted and reported.
 * A reset on a fresh connection, any answer other than 2xx and any other method still fail.
 */
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";

export interface SeedImage {
  id: string;
  sha256: string;
}

export interface LoadOptions {
  /** e.g. http://127.0.0.1:19292 */
  baseUrl: string;
  /** Large images to download and verify (the lab's seed images). */
  seedImages: SeedImage[];
  /** Number of concurrent workers (at least 4); default 8: 2 slow downloaders, 1 fast, 2 uploaders, the rest listers. */
  concurrency?: number;
  /** If > 0, the client also uploads one image of this size at start and downloads it like a seed. */
  largeImageBytes?: number;
  /**
   * Read rate of the slow downloaders; default 1 MiB/s. Loopback socket buffers hold ~4 MiB of a
   * response, so an 8 MiB seed keeps its HAProxy session (scur) open for ~4 of its ~8 s.
   */
  slowReadBytesPerSecond?: number;
  /** Size of the uploaders' images; default 16 KiB. */
  smallImageBytes?: number;
}

export type RequestKind = "list" | "create" | "upload" | "download" | "slow-download" | "delete";

export interface LoadReport {
  durationMs: number;
  requests: number;
  /** Non-2xx answers, connection errors, timeouts and cut downloads. */
  failures: number;
  /** Up to 20 failures, as "<elapsed s> <METHOD> <path>: <what happened>". */
  failureSamples: string[];
  /** Downloads whose body was shorter than announced or did not match the image's sha256 (also in failures). */
  cutDownloads: number;
  /** GETs reset on a reused keep-alive connection before any answer, and retried once (not failures). */
  staleConnectionRetries: number;
  /** Up to 20 of them, as "<elapsed s> GET <path>: <what happened>". */
  staleRetrySamples: string[];
  /** Over the run until stop() was called (stop then waits for the requests in flight). */
  requestsPerSecond: number;
  byKind: Record<RequestKind, { requests: number; failures: number }>;
  /** Most downloads in flight at the same time (slow ones included). */
  maxDownloadsInFlight: number;
  /** One entry per second since start. */
  timeline: Array<{ second: number; requests: number; failures: number }>;
}

export interface RunningLoad {
  stop(): Promise<LoadReport>;
}

const REQUEST_TIMEOUT_MS = 60_000;
const MAX_FAILURE_SAMPLES = 20;

interface Outcome {
  status: number;
  body: Buffer;
}

class LoadStats {
  readonly startedAt = Date.now();
  stopRequestedAt: number | undefined;
  requests = 0;
  failures = 0;
  cutDownloads = 0;
  staleConnectionRetries = 0;
  readonly staleRetrySamples: string[] = [];
  downloadsInFlight = 0;
  maxDownloadsInFlight = 0;
  readonly failureSamples: string[] = [];
  readonly byKind: LoadReport["byKind"] = {
    list: { requests: 0, failures: 0 },
    create: { requests: 0, failures: 0 },
    upload: { requests: 0, failures: 0 },
    download: { requests: 0, failures: 0 },
    "slow-download": { requests: 0, failures: 0 },
    delete: { requests: 0, failures: 0 },
  };
  private readonly perSecond = new Map<number, { requests: number; failures: number }>();

  private bucket(): { requests: number; failures: number } {
    const second = Math.floor((Date.now() - this.startedAt) / 1000);
    let entry = this.perSecond.get(second);
    if (entry === undefined) {
      entry = { requests: 0, failures: 0 };
      this.perSecond.set(second, entry);
    }
    return entry;
  }

  counted(kind: RequestKind): void {
    this.requests++;
    this.byKind[kind].requests++;
    this.bucket().requests++;
  }

  private elapsed(): string {
    return `${((Date.now() - this.startedAt) / 1000).toFixed(1)}s`;
  }

  retriedStale(what: string): void {
    this.staleConnectionRetries++;
    if (this.staleRetrySamples.length < MAX_FAILURE_SAMPLES)
      this.staleRetrySamples.push(`${this.elapsed()} ${what}`);
  }

  failed(kind: RequestKind, what: string): void {
    this.counted(kind);
    this.failures++;
    this.byKind[kind].failures++;
    this.bucket().failures++;
    if (this.failureSamples.length < MAX_FAILURE_SAMPLES) {
      this.failureSamples.push(`${this.elapsed()} ${what}`);
    }
  }

  report(): LoadReport {
    const durationMs = Date.now() - this.startedAt;
    const activeMs = (this.stopRequestedAt ?? Date.now()) - this.startedAt;
    const lastSecond = Math.floor(durationMs / 1000);
    const timeline: LoadReport["timeline"] = [];
    for (let second = 0; second <= lastSecond; second++) {
      timeline.push({ second, ...(this.perSecond.get(second) ?? { requests: 0, failures: 0 }) });
    }
    return {
      durationMs,
      requests: this.requests,
      failures: this.failures,
      failureSamples: [...this.failureSamples],
      cutDownloads: this.cutDownloads,
      staleConnectionRetries: this.staleConnectionRetries,
      staleRetrySamples: [...this.staleRetrySamples],
      requestsPerSecond: activeMs > 0 ? (this.requests * 1000) / activeMs : 0,
      byKind: structuredClone(this.byKind),
      maxDownloadsInFlight: this.maxDownloadsInFlight,
      timeline,
    };
  }
}

export class RequestFailure extends Error {
  constructor(
    message: string,
    readonly cut = false,
    /** Reset before any answer on a connection the agent reused from its pool. */
    readonly staleConnection = false,
  ) {
    super(message);
  }
}

/** One HTTP exchange. With `sha256`, the body is hashed as it streams (not kept) and checked. */
function exchange(
  agent: http.Agent,
  baseUrl: string,
  method: string,
  path: string,
  opts: { body?: Buffer; contentType?: string; sha256?: string; readBytesPerSecond?: number } = {},
): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = {};
    if (opts.body !== undefined) {
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
      headers["content-length"] = opts.body.length;
    }
    let answered = false;
    // The client port names the connection in HAProxy's log ("127.0.0.1:<port> [...] ...").
    let clientPort: number | undefined;
    const req = http.request(
      new URL(path, baseUrl),
      { method, agent, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const announced =
          res.headers["content-length"] === undefined ? undefined : Number(res.headers["content-length"]);
        const hash = opts.sha256 !== undefined && status === 200 ? createHash("sha256") : undefined;
        const chunks: Buffer[] = [];
        let received = 0;
        let ended = false;
        const startedAt = Date.now();
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (hash) hash.update(chunk);
          else chunks.push(chunk);
          if (opts.readBytesPerSecond !== undefined) {
            const dueAt = startedAt + (received / opts.readBytesPerSecond) * 1000;
            const wait = dueAt - Date.now();
            if (wait > 5) {
              res.pause();
              setTimeout(() => res.resume(), wait);
            }
          }
        });
        res.on("end", () => {
          ended = true;
          if (announced !== undefined && received < announced) {
            reject(new RequestFailure(`body cut at ${received} of ${announced} bytes`, hash !== undefined));
            return;
          }
          if (hash) {
            const digest = hash.digest("hex");
            if (digest !== opts.sha256) {
              reject(new RequestFailure(`sha256 mismatch after ${received} bytes (got ${digest})`, true));
              return;
            }
          }
          resolve({ status, body: Buffer.concat(chunks) });
        });
        res.on("error", (err) =>
          reject(new RequestFailure(`body cut at ${received} bytes: ${err.message}`, hash !== undefined)),
        );
        res.on("close", () => {
          if (!ended)
            reject(new RequestFailure(`connection closed mid-body at ${received} bytes`, hash !== undefined));
        });
      },
    );
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => (clientPort = socket.localPort));
      else clientPort = socket.localPort;
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    // "socket hang up" (closed before any response) and a TCP reset share the code ECONNRESET.
    req.on("error", (err: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && err.code === "ECONNRESET" && !answered;
      const what =
        (err.code ? `${err.code} (${err.message})` : err.message) +
        (clientPort === undefined ? "" : ` on client port ${clientPort}`) +
        (stale ? ", a reused keep-alive connection" : "");
      reject(new RequestFailure(what, false, stale));
    });
    req.end(opts.body);
  });
}

/** `exchange`, with a GET reset on a reused connection before any answer sent once more. */
export async function exchangeRetryingStale(
  agent: http.Agent,
  baseUrl: string,
  method: string,
  path: string,
  opts: Parameters<typeof exchange>[4],
  onRetry: (what: string) => void,
): Promise<Outcome> {
  try {
    return await exchange(agent, baseUrl, method, path, opts);
  } catch (err) {
    if (!(err instanceof RequestFailure && err.staleConnection && method === "GET")) throw err;
    onRetry(err.message);
    return exchange(agent, baseUrl, method, path, opts);
  }
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const concurrency = Math.max(4, opts.concurrency ?? 8);
  const slowRate = opts.slowReadBytesPerSecond ?? 1024 * 1024;
  const smallBytes = opts.smallImageBytes ?? 16 * 1024;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 2, timeout: 2_000 });
  const stats = new LoadStats();
  const downloadable: SeedImage[] = [...opts.seedImages];
  let stopping = false;
  let counter = 0;

  /** Runs one request; a thrown RequestFailure or a non-2xx status is counted and yields undefined. */
  const attempt = async (
    kind: RequestKind,
    method: string,
    path: string,
    exchangeOpts: Parameters<typeof exchange>[4] = {},
  ): Promise<Outcome | undefined> => {
    const isDownload = kind === "download" || kind === "slow-download";
    if (isDownload) {
      stats.downloadsInFlight++;
      stats.maxDownloadsInFlight = Math.max(stats.maxDownloadsInFlight, stats.downloadsInFlight);
    }
    try {
      const outcome = await exchangeRetryingStale(agent, opts.baseUrl, method, path, exchangeOpts, (what) =>
        stats.retriedStale(`${method} ${path}: ${what}`),
      );
      if (outcome.status < 200 || outcome.status > 299) {
        stats.failed(
          kind,
          `${method} ${path}: HTTP ${outcome.status} ${outcome.body.toString("utf8").slice(0, 200)}`,
        );
        return undefined;
      }
      stats.counted(kind);
      return outcome;
    } catch (err) {
      const failure = err instanceof RequestFailure ? err : new RequestFailure(String(err));
      if (failure.cut) stats.cutDownloads++;
      stats.failed(kind, `${method} ${path}: ${failure.message}`);
      return undefined;
    } finally {
      if (isDownload) stats.downloadsInFlight--;
    }
  };

  const uploadImage = async (bytes: Buffer, name: string): Promise<SeedImage | undefined> => {
    const created = await attempt("create", "POST", "/v2/images", {
      body: Buffer.from(JSON.stringify({ name, disk_format: "raw", container_format: "bare" })),
      contentType: "application/json",
    });
    if (created === undefined) return undefined;
    const id = (JSON.parse(created.body.toString("utf8")) as { id: string }).id;
    const uploaded = await attempt("upload", "PUT", `/v2/images/${id}/file`, { body: bytes });
    if (uploaded === undefined) return undefined;
    return { id, sha256: createHash("sha256").update(bytes).digest("hex") };
  };

  const lister = async (): Promise<void> => {
    while (!stopping) await attempt("list", "GET", "/v2/images?limit=20");
  };

  const uploader = async (): Promise<void> => {
    while (!stopping) {
      const image = await uploadImage(randomBytes(smallBytes), `load-${process.pid}-${++counter}`);
      if (image === undefined) continue;
      await attempt("download", "GET", `/v2/images/${image.id}/file`, { sha256: image.sha256 });
      await attempt("delete", "DELETE", `/v2/images/${image.id}`);
    }
  };

  const downloader = (slow: boolean) => async (): Promise<void> => {
    let next = slow ? 1 : 0;
    while (!stopping) {
      const image = downloadable[next++ % Math.max(1, downloadable.length)];
      if (image === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await attempt(slow ? "slow-download" : "download", "GET", `/v2/images/${image.id}/file`, {
        sha256: image.sha256,
        ...(slow ? { readBytesPerSecond: slowRate } : {}),
      });
    }
  };

  const roles: Array<() => Promise<void>> = [
    downloader(true),
    downloader(true),
    downloader(false),
    uploader,
    uploader,
  ];
  while (roles.length < concurrency) roles.push(lister);
  if (roles.length > concurrency) roles.length = concurrency;

  const largeBytes = opts.largeImageBytes ?? 0;
  const prepared =
    largeBytes > 0
      ? uploadImage(randomBytes(largeBytes), `load-large-${process.pid}`).then((image) => {
          if (image !== undefined) downloadable.push(image);
        })
      : Promise.resolve();
  const workers = roles.map((role) => prepared.then(role));

  return {
    async stop(): Promise<LoadReport> {
      stopping = true;
      stats.stopRequestedAt = Date.now();
      await Promise.all(workers);
      agent.destroy();
      return stats.report();
    },
  };
}
