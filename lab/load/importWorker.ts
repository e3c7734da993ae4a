/** The load's import workers: imports one after another, each counted as one request of its kind. */
import { randomBytes } from "node:crypto";
import type * as http from "node:http";
import { RequestFailure } from "./exchange";
import { ImportFailure, type ImportCall, type ImportMethod, runImport } from "./imports";
import type { FailureType, ImportKind } from "./loadReport";
import type { LoadStats } from "./loadStats";

export interface ImportLoadOptions {
  /** Each node's `worker_self_reference_url`, by HAProxy server name. */
  selfUrls: Record<string, string>;
  /** Where web-download imports fetch their data (the lab's slow source). */
  source: { image(n: number): { url: string; md5: string } };
  /** Size of a glance-direct import's data; default 4 MiB. */
  directBytes?: number;
  /** How long an accepted import may take to become active; default 120 s. */
  timeoutMs?: number;
  /** web-download workers (each keeps one import running); default 1. */
  webWorkers?: number;
}

const KIND_OF: Record<ImportMethod, ImportKind> = {
  "glance-direct": "import-direct",
  "web-download": "import-web",
};

/**
 * Runs the calls it is given one at a time, in order. The import workers send their import calls
 * through one: Glance (27.x and 28.x, `image_set_property_atomic` in glance/db/sqlalchemy/api.py)
 * takes the import lock with an UPDATE that finds no row, then an INSERT, with no retry; under
 * InnoDB's default REPEATABLE READ two such calls for different images in the same index gap
 * deadlock, and one import call is answered 500. That happens with or without an upgrade
 * (test/integration/glanceImports.test.ts reproduces it on Glance's own schema), so the lab's load
 * does not start two imports at the same instant; everything after the call still overlaps.
 */
export function oneAtATime(): <T>(call: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(call: () => Promise<T>): Promise<T> => {
    const run = tail.then(call);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function importWorker(
  opts: ImportLoadOptions,
  run: {
    baseUrl: string;
    agent: http.Agent;
    stats: LoadStats;
    requestIdPrefix: string;
    stopping: () => boolean;
    /** Deletes an imported image later (the load's deferred deletes); by default the import deletes it. */
    deleteImage?: (imageId: string) => void;
  },
): (method: ImportMethod) => Promise<void> {
  let sequence = 0;
  let sourceImage = 0;
  const importCall = oneAtATime();
  const nextRequestId = () => `${run.requestIdPrefix}-import-${++sequence}`;
  return async (method) => {
    const kind = KIND_OF[method];
    while (!run.stopping()) {
      const startedAt = Date.now();
      const image = method === "web-download" ? opts.source.image(++sourceImage) : undefined;
      try {
        const done = await runImport(
          method === "glance-direct"
            ? { method, data: randomBytes(opts.directBytes ?? 4 * 1024 * 1024) }
            : { method, uri: image?.url, md5: image?.md5 },
          {
            agent: run.agent,
            baseUrl: run.baseUrl,
            selfUrls: opts.selfUrls,
            nextRequestId,
            timeoutMs: opts.timeoutMs ?? 120_000,
            importCall,
            deleteImage: run.deleteImage,
          },
        );
        run.stats.counted(kind);
        run.stats.imports.push({ kind, imageId: done.imageId, startedAt, endedAt: Date.now(), ok: true });
      } catch (error) {
        const failed = error as Error & { imageId?: string; calls?: ImportCall[] };
        const last = failed.calls?.at(-1);
        const type: FailureType =
          error instanceof RequestFailure || error instanceof ImportFailure ? error.type : "import-failed";
        run.stats.failed({
          at: Date.now(),
          requestId: last?.requestId ?? nextRequestId(),
          kind,
          type,
          method: last?.method ?? "POST",
          path: last?.path ?? "/v2/images",
          server: last?.server,
          detail: `${method} import of ${failed.imageId ?? "a new image"}: ${failed.message}`,
        });
        run.stats.imports.push({ kind, imageId: failed.imageId, startedAt, endedAt: Date.now(), ok: false });
      }
    }
  };
}
