/**
 * Continuous client load against the lab's Glance endpoint (through HAProxy): the instrument every
 * zero-failure claim rests on. A request that does not get a complete, correct answer is a failure,
 * whatever the connection's history; nothing is retried or reclassified.
 *
 * Workers loop until stop(): listers (GET /v2/images), uploaders (create, upload a small image, read
 * it back, delete it), a fast downloader and two paced slow downloaders (GET /v2/images/ID/file of
 * the large seed images, sha256-verified). On top of them, held downloads keep every server that is
 * in rotation busy: each is a seed download, on a new connection, whose body is left unread for up to
 * MAX_HOLD_MS after its headers (HAProxy then counts an open session on that server: the unread body
 * is larger than what the buffers of a new connection hold) and read at full speed once a
 * newer held download has landed on the same server. So whenever a drain starts, the server it
 * drains has a download in flight that the drain must wait for.
 *
 * Every request carries a unique `X-Request-Id`, which the lab's HAProxy logs; the lab's HAProxy
 * names the server that answered in `X-Served-By`. A failure names both, so it can be matched with
 * HAProxy's log line (lab/load/haproxyLog.ts).
 *
 * Connections are kept alive, as real Glance clients do (keystoneauth uses a requests Session); in
 * HTTP mode HAProxy still balances each request on its own. An idle pooled connection is closed by
 * this client after IDLE_CLOSE_MS, far inside HAProxy's `timeout http-keep-alive` (60 s in the lab),
 * so HAProxy never closes a client connection under a request being sent: the keep-alive race is
 * removed at its source, not retried around.
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
  /** Number of looping workers (at least 5); default 8: 2 slow downloaders, 1 fast, 2 uploaders, the rest listers. */
  concurrency?: number;
  /** If > 0, the client also uploads one image of this size at start and downloads it like a seed. */
  largeImageBytes?: number;
  /**
   * Read rate of the paced slow downloaders; default 1 MiB/s. Loopback socket buffers hold ~4 MiB of
   * a response, so an 8 MiB seed keeps its HAProxy session (scur) open for ~4 of its ~8 s.
   */
  slowReadBytesPerSecond?: number;
  /** Size of the uploaders' images; default 16 KiB. */
  smallImageBytes?: number;
  /** Keep a held download on every server in rotation (see above); default true. */
  holdOnEveryServer?: boolean;
}

export type RequestKind = "list" | "create" | "upload" | "download" | "slow-download" | "delete";
export const REQUEST_KINDS: readonly RequestKind[] = [
  "list",
  "create",
  "upload",
  "download",
  "slow-download",
  "delete",
];

/**
 * What went wrong: no answer before the connection closed or was refused, no answer in time, an
 * answer with a 5xx or another non-2xx status, or an answer whose body was cut (a download's body
 * shorter than announced or not matching its sha256 is a cut download).
 */
export type FailureType =
  "reset-before-answer" | "timeout" | "http-5xx" | "http-other" | "cut-download" | "cut-body";
export const FAILURE_TYPES: readonly FailureType[] = [
  "reset-before-answer",
  "timeout",
  "http-5xx",
  "http-other",
  "cut-download",
  "cut-body",
];

export interface FailureRecord {
  /** Epoch milliseconds when the failure was seen. */
  at: number;
  requestId: string;
  kind: RequestKind;
  type: FailureType;
  method: string;
  path: string;
  /** The HAProxy server that answered (X-Served-By), when an answer began. */
  server?: string;
  detail: string;
}

/** One download of the slow kinds (paced or held), from request to its end. */
export interface SlowDownloadSpan {
  requestId: string;
  server?: string;
  startedAt: number;
  answeredAt?: number;
  endedAt: number;
  ok: boolean;
}

export interface InFlightRequest {
  requestId: string;
  kind: RequestKind;
  method: string;
  path: string;
  startedAt: number;
  /** Set once the headers arrived. */
  server?: string;
  /** A held download whose body is still unread. */
  held: boolean;
}

export interface LoadReport {
  /** Epoch milliseconds: the load's start, and when stop() was called. */
  startedAt: number;
  stoppedAt: number;
  durationMs: number;
  /** Every request id of this load starts with it. */
  requestIdPrefix: string;
  requests: number;
  /** Non-2xx answers, connection errors, timeouts and cut bodies. */
  failures: number;
  /** Up to MAX_FAILURE_RECORDS failures, in order. */
  failureRecords: FailureRecord[];
  /** The same, as "<elapsed s> <request id> <METHOD> <path> [server]: <type>: <what happened>". */
  failureSamples: string[];
  failuresByType: Record<FailureType, number>;
  /** Downloads whose body was shorter than announced or did not match the image's sha256 (also in failures). */
  cutDownloads: number;
  /** Over the run until stop() was called (stop then waits for the requests in flight). */
  requestsPerSecond: number;
  byKind: Record<RequestKind, { requests: number; failures: number }>;
  /** Most downloads in flight at the same time (slow ones included). */
  maxDownloadsInFlight: number;
  /** Every slow or held download, in order of start. */
  slowDownloads: SlowDownloadSpan[];
  /** One entry per second since start. */
  timeline: Array<{ second: number; requests: number; failures: number }>;
}

export interface RunningLoad {
  /** The requests in flight right now. */
  inFlight(): InFlightRequest[];
  stop(): Promise<LoadReport>;
}

export const REQUEST_ID_HEADER = "x-request-id";
export const SERVED_BY_HEADER = "x-served-by";
const REQUEST_TIMEOUT_MS = 60_000;
const MAX_FAILURE_RECORDS = 50;
/** A pooled connection idle this long is closed by the client (HAProxy waits 60 s in the lab). */
export const IDLE_CLOSE_MS = 1_000;
/** A held download is released at the latest after this long... */
const MAX_HOLD_MS = 4_000;
/** ...and a server whose newest held download is older than this gets a fresh one. */
const REFRESH_HOLD_MS = 1_500;
/** A server that answered within this window counts as in rotation. */
const LIVE_WINDOW_MS = 1_000;
const SUPERVISOR_TICK_MS = 50;
/** At most this many held downloads at once (they cost the nodes nothing but a socket). */
const MAX_HELD = 12;

export class RequestFailure extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    readonly server?: string,
  ) {
    super(message);
  }
}

interface Outcome {
  status: number;
  body: Buffer;
  server?: string;
}

export interface ExchangeOptions {
  requestId: string;
  /** Send on a new connection of its own, closed after the answer (not one from the pool). */
  freshConnection?: boolean;
  body?: Buffer;
  contentType?: string;
  /** The body is hashed as it streams (not kept) and checked; a short or wrong body is a cut download. */
  sha256?: string;
  readBytesPerSecond?: number;
  /** Called with the answer's status and server once the headers arrive. */
  onAnswer?: (status: number, server: string | undefined) => void;
  /** With a 200, the body is left unread until this resolves. */
  holdUntil?: (server: string | undefined) => Promise<void>;
}

/** One HTTP exchange: a complete, correct answer, or a RequestFailure saying what went wrong. */
export function exchange(
  agent: http.Agent,
  baseUrl: string,
  method: string,
  path: string,
  opts: ExchangeOptions,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { [REQUEST_ID_HEADER]: opts.requestId };
    if (opts.body !== undefined) {
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
      headers["content-length"] = opts.body.length;
    }
    // The client port names the connection in HAProxy's log ("127.0.0.1:<port> [...] ...").
    let clientPort: number | undefined;
    let server: string | undefined;
    const req = http.request(
      new URL(path, baseUrl),
      { method, agent, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const status = res.statusCode ?? 0;
        const servedBy = res.headers[SERVED_BY_HEADER];
        server = typeof servedBy === "string" ? servedBy : undefined;
        opts.onAnswer?.(status, server);
        const announced =
          res.headers["content-length"] === undefined ? undefined : Number(res.headers["content-length"]);
        const verifying = opts.sha256 !== undefined && status === 200;
        const cutType: FailureType = verifying ? "cut-download" : "cut-body";
        const hash = verifying ? createHash("sha256") : undefined;
        const chunks: Buffer[] = [];
        let received = 0;
        let ended = false;
        let pacedFrom = Date.now();
        const fail = (detail: string) => reject(new RequestFailure(cutType, detail, server));
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (hash) hash.update(chunk);
          else chunks.push(chunk);
          if (opts.readBytesPerSecond !== undefined) {
            const dueAt = pacedFrom + (received / opts.readBytesPerSecond) * 1000;
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
            fail(`body cut at ${received} of ${announced} bytes`);
            return;
          }
          if (hash) {
            const digest = hash.digest("hex");
            if (digest !== opts.sha256) {
              fail(`sha256 mismatch after ${received} bytes (got ${digest})`);
              return;
            }
          }
          resolve({ status, body: Buffer.concat(chunks), server });
        });
        res.on("error", (err) => fail(`body cut at ${received} bytes: ${err.message}`));
        res.on("close", () => {
          if (!ended) fail(`connection closed mid-body at ${received} bytes`);
        });
        if (opts.holdUntil !== undefined && status === 200) {
          res.pause();
          void opts.holdUntil(server).then(() => {
            pacedFrom = Date.now();
            res.resume();
          });
        }
      },
    );
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => (clientPort = socket.localPort));
      else clientPort = socket.localPort;
    });
    req.on("timeout", () =>
      req.destroy(new RequestFailure("timeout", `no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    // "socket hang up" (closed before any response) and a TCP reset share the code ECONNRESET.
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof RequestFailure) {
        reject(err);
        return;
      }
      const where = clientPort === undefined ? "" : ` on client port ${clientPort}`;
      const reused = req.reusedSocket ? ", a reused keep-alive connection" : "";
      const what = err.code ? `${err.code} (${err.message})` : err.message;
      reject(new RequestFailure("reset-before-answer", `${what}${where}${reused}`, server));
    });
    req.end(opts.body);
  });
}

class LoadStats {
  readonly startedAt = Date.now();
  stopRequestedAt: number | undefined;
  requests = 0;
  failures = 0;
  cutDownloads = 0;
  downloadsInFlight = 0;
  maxDownloadsInFlight = 0;
  readonly failureRecords: FailureRecord[] = [];
  readonly failuresByType = Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as Record<
    FailureType,
    number
  >;
  readonly byKind = Object.fromEntries(REQUEST_KINDS.map((k) => [k, { requests: 0, failures: 0 }])) as Record<
    RequestKind,
    { requests: number; failures: number }
  >;
  readonly slowDownloads: SlowDownloadSpan[] = [];
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

  failed(record: FailureRecord): void {
    this.counted(record.kind);
    this.failures++;
    this.byKind[record.kind].failures++;
    this.failuresByType[record.type]++;
    if (record.type === "cut-download") this.cutDownloads++;
    this.bucket().failures++;
    if (this.failureRecords.length < MAX_FAILURE_RECORDS) this.failureRecords.push(record);
  }

  sample(record: FailureRecord): string {
    const elapsed = ((record.at - this.startedAt) / 1000).toFixed(1);
    const server = record.server === undefined ? "" : ` [${record.server}]`;
    return `${elapsed}s ${record.requestId} ${record.method} ${record.path}${server}: ${record.type}: ${record.detail}`;
  }

  report(requestIdPrefix: string): LoadReport {
    const stoppedAt = this.stopRequestedAt ?? Date.now();
    const durationMs = Date.now() - this.startedAt;
    const activeMs = stoppedAt - this.startedAt;
    const lastSecond = Math.floor(durationMs / 1000);
    const timeline: LoadReport["timeline"] = [];
    for (let second = 0; second <= lastSecond; second++) {
      timeline.push({ second, ...(this.perSecond.get(second) ?? { requests: 0, failures: 0 }) });
    }
    return {
      startedAt: this.startedAt,
      stoppedAt,
      durationMs,
      requestIdPrefix,
      requests: this.requests,
      failures: this.failures,
      failureRecords: structuredClone(this.failureRecords),
      failureSamples: this.failureRecords.map((r) => this.sample(r)),
      failuresByType: { ...this.failuresByType },
      cutDownloads: this.cutDownloads,
      requestsPerSecond: activeMs > 0 ? (this.requests * 1000) / activeMs : 0,
      byKind: structuredClone(this.byKind),
      maxDownloadsInFlight: this.maxDownloadsInFlight,
      slowDownloads: structuredClone(this.slowDownloads),
      timeline,
    };
  }
}

interface Hold {
  answeredAt: number;
  release: () => void;
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const concurrency = Math.max(5, opts.concurrency ?? 8);
  const slowRate = opts.slowReadBytesPerSecond ?? 1024 * 1024;
  const smallBytes = opts.smallImageBytes ?? 16 * 1024;
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: concurrency + 2,
    timeout: IDLE_CLOSE_MS,
  });
  // Held downloads go on new connections: a pooled connection's receive buffer has grown while earlier
  // downloads were read at full speed (to ~6 MiB), and with HAProxy's send buffer a whole 8 MiB seed
  // would fit in the buffers, ending HAProxy's session while the body is still unread.
  const freshAgent = new http.Agent({ keepAlive: false, maxSockets: MAX_HELD + 2 });
  const stats = new LoadStats();
  const requestIdPrefix = `load-${process.pid}-${randomBytes(3).toString("hex")}`;
  const downloadable: SeedImage[] = [...opts.seedImages];
  const inFlight = new Map<string, InFlightRequest>();
  /** When each server last answered anything. */
  const lastAnswered = new Map<string, number>();
  const holds = new Map<string, Hold[]>();
  let stopping = false;
  let sequence = 0;
  let counter = 0;

  /** Runs one request; a failure or a non-2xx status is counted and yields undefined. */
  const attempt = async (
    kind: RequestKind,
    method: string,
    path: string,
    exchangeOpts: Omit<ExchangeOptions, "requestId" | "onAnswer"> = {},
  ): Promise<Outcome | undefined> => {
    const requestId = `${requestIdPrefix}-${++sequence}`;
    const entry: InFlightRequest = {
      requestId,
      kind,
      method,
      path,
      startedAt: Date.now(),
      held: exchangeOpts.holdUntil !== undefined,
    };
    inFlight.set(requestId, entry);
    const isDownload = kind === "download" || kind === "slow-download";
    if (isDownload) {
      stats.downloadsInFlight++;
      stats.maxDownloadsInFlight = Math.max(stats.maxDownloadsInFlight, stats.downloadsInFlight);
    }
    let answeredAt: number | undefined;
    let ok = false;
    const fail = (type: FailureType, detail: string, server?: string) =>
      stats.failed({ at: Date.now(), requestId, kind, type, method, path, server, detail });
    const holdUntil = exchangeOpts.holdUntil;
    try {
      const outcome = await exchange(
        exchangeOpts.freshConnection ? freshAgent : agent,
        opts.baseUrl,
        method,
        path,
        {
          ...exchangeOpts,
          requestId,
          onAnswer: (_status, server) => {
            answeredAt = Date.now();
            entry.server = server;
            if (server !== undefined) lastAnswered.set(server, answeredAt);
          },
          holdUntil:
            holdUntil &&
            ((server) =>
              holdUntil(server).then(() => {
                entry.held = false;
              })),
        },
      );
      if (outcome.status < 200 || outcome.status > 299) {
        const text = outcome.body.toString("utf8").slice(0, 200);
        fail(
          outcome.status >= 500 ? "http-5xx" : "http-other",
          `HTTP ${outcome.status} ${text}`,
          outcome.server,
        );
        return undefined;
      }
      stats.counted(kind);
      ok = true;
      return outcome;
    } catch (err) {
      const failure =
        err instanceof RequestFailure ? err : new RequestFailure("reset-before-answer", String(err));
      fail(failure.type, failure.message, failure.server ?? entry.server);
      return undefined;
    } finally {
      inFlight.delete(requestId);
      if (isDownload) stats.downloadsInFlight--;
      if (kind === "slow-download") {
        stats.slowDownloads.push({
          requestId,
          server: entry.server,
          startedAt: entry.startedAt,
          answeredAt,
          endedAt: Date.now(),
          ok,
        });
      }
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

  /** A held download: it lands where HAProxy sends it, and holds that server until replaced. */
  let pendingHolds = 0;
  let heldCount = 0;
  const heldDownload = async (image: SeedImage): Promise<void> => {
    pendingHolds++;
    heldCount++;
    let landed = false;
    const land = (server: string | undefined): Promise<void> => {
      landed = true;
      pendingHolds--;
      if (server === undefined || stopping) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const hold: Hold = {
          answeredAt: Date.now(),
          release: () => {
            clearTimeout(timer);
            holds.set(
              server,
              (holds.get(server) ?? []).filter((h) => h !== hold),
            );
            resolve();
          },
        };
        const timer = setTimeout(() => hold.release(), MAX_HOLD_MS);
        // A newer hold on the same server replaces the older ones, so the server is never uncovered.
        for (const older of [...(holds.get(server) ?? [])]) older.release();
        holds.set(server, [...(holds.get(server) ?? []), hold]);
      });
    };
    try {
      await attempt("slow-download", "GET", `/v2/images/${image.id}/file`, {
        sha256: image.sha256,
        holdUntil: land,
        freshConnection: true,
      });
    } finally {
      if (!landed) pendingHolds--;
      heldCount--;
    }
  };

  const holdSupervisor = async (): Promise<void> => {
    let next = 0;
    while (!stopping) {
      await new Promise((resolve) => setTimeout(resolve, SUPERVISOR_TICK_MS));
      const now = Date.now();
      const live = [...lastAnswered].filter(([, at]) => now - at < LIVE_WINDOW_MS).map(([s]) => s);
      const uncovered = live.filter((server) => {
        const newest = (holds.get(server) ?? []).reduce((max, h) => Math.max(max, h.answeredAt), 0);
        return now - newest >= REFRESH_HOLD_MS;
      });
      const image = downloadable[next % Math.max(1, downloadable.length)];
      if (uncovered.length > 0 && pendingHolds === 0 && heldCount < MAX_HELD && image !== undefined) {
        next++;
        void heldDownload(image);
      }
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

  const largeBytes = opts.largeImageBytes ?? 0;
  const prepared =
    largeBytes > 0
      ? uploadImage(randomBytes(largeBytes), `load-large-${process.pid}`).then((image) => {
          if (image !== undefined) downloadable.push(image);
        })
      : Promise.resolve();
  const workers = roles.map((role) => prepared.then(role));
  if (opts.holdOnEveryServer ?? true) workers.push(prepared.then(holdSupervisor));

  return {
    inFlight: () => [...inFlight.values()].map((r) => ({ ...r })),
    async stop(): Promise<LoadReport> {
      stopping = true;
      stats.stopRequestedAt = Date.now();
      for (const list of holds.values()) for (const hold of list) hold.release();
      await Promise.all(workers);
      // Held downloads still in flight finish before the report.
      while (heldCount > 0) {
        for (const list of holds.values()) for (const hold of list) hold.release();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      agent.destroy();
      freshAgent.destroy();
      return stats.report(requestIdPrefix);
    },
  };
}
