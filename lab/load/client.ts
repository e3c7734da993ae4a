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
import type { InFlightRequest, LoadReport } from "./loadReport";
import { LoadStats } from "./loadStats";
import { countedRequests } from "./requests";
import { importWorker, type ImportLoadOptions } from "./importWorker";

export type { LoadReport } from "./loadReport";

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
  /** Also run image imports, one glance-direct and one web-download worker (lab/load/imports.ts). */
  imports?: ImportLoadOptions;
}

export interface RunningLoad {
  /** The requests in flight right now. */
  inFlight(): InFlightRequest[];
  stop(): Promise<LoadReport>;
}

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
  const { attempt, inFlight, lastAnswered } = countedRequests({
    baseUrl: opts.baseUrl,
    agent,
    freshAgent,
    stats,
    requestIdPrefix,
  });
  const holds = new Map<string, Hold[]>();
  let stopping = false;
  let counter = 0;

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

  /**
   * With import workers, the load's image deletes wait until stop(), after the last import: Glance
   * releases an import's lock (`image_delete_property_atomic`) with no retry, and a concurrent image
   * delete can deadlock it (MariaDB's log in a lab run: the release's DELETE against image_destroy's
   * UPDATE on `ix_image_properties_deleted`), leaving the image active with its lock held. That is
   * Glance's, upgrade or not; the imports are what this load measures. Without imports, deletes run
   * in the loop as before.
   */
  const deferredDeletes: string[] = [];
  const deleteImage = async (id: string): Promise<void> => {
    if (opts.imports) deferredDeletes.push(id);
    else await attempt("delete", "DELETE", `/v2/images/${id}`);
  };

  const uploader = async (): Promise<void> => {
    while (!stopping) {
      const image = await uploadImage(randomBytes(smallBytes), `load-${process.pid}-${++counter}`);
      if (image === undefined) continue;
      await attempt("download", "GET", `/v2/images/${image.id}/file`, { sha256: image.sha256 });
      await deleteImage(image.id);
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
  if (opts.imports) {
    stats.importsEnabled = true;
    const worker = importWorker(opts.imports, {
      baseUrl: opts.baseUrl,
      agent,
      stats,
      requestIdPrefix,
      stopping: () => stopping,
      deleteImage: (id) => deferredDeletes.push(id),
    });
    workers.push(prepared.then(() => worker("glance-direct")));
    for (let i = 0; i < (opts.imports.webWorkers ?? 1); i++)
      workers.push(prepared.then(() => worker("web-download")));
  }
  if (opts.holdOnEveryServer ?? true) workers.push(prepared.then(holdSupervisor));

  return {
    inFlight: () => [...inFlight.values()].map((r) => ({ ...r })),
    async stop(): Promise<LoadReport> {
      stopping = true;
      stats.stopRequestedAt = Date.now();
      for (const list of holds.values()) for (const hold of list) hold.release();
      await Promise.all(workers);
      for (const id of deferredDeletes) await attempt("delete", "DELETE", `/v2/images/${id}`);
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
