/**
 * Image imports as a Glance user makes them, through the load balancer: the work Glance does after
 * answering 202, which no load balancer sees. One import is one "request" of the load: it succeeds
 * only when the image becomes `active` with the checksum of the data that was sent.
 *
 * - glance-direct: create the image, stage its data (`PUT /v2/images/ID/stage`, kept on the node that
 *   answered, which records itself as the image's stage host), import it (`POST .../import`), wait
 *   until `active`, check the checksum, delete it. Glance would proxy an import that reaches another
 *   node to the stage host, but its proxy needs Keystone (`keystone_authtoken.identity_uri`), which
 *   the lab does not run; so the import goes to the stage host's own frontend in the lab's HAProxy
 *   (its `worker_self_reference_url`), where Glance's proxy would have sent it.
 * - web-download: create the image, import it from a URL (the lab's slow source), wait, check, delete.
 */
import { createHash, randomBytes } from "node:crypto";
import type * as http from "node:http";
import { exchange, statusFailure } from "./exchange";
import type { ImportFailureType } from "./loadReport";

export type ImportMethod = "glance-direct" | "web-download";

export class ImportFailure extends Error {
  constructor(
    readonly type: ImportFailureType,
    message: string,
  ) {
    super(message);
  }
}

export interface ImportSource {
  method: ImportMethod;
  /** glance-direct: the data to stage. */
  data?: Buffer;
  /** web-download: where Glance fetches the data, and its md5. */
  uri?: string;
  md5?: string;
}

export interface ImportCall {
  requestId: string;
  method: string;
  path: string;
  server?: string;
}

export interface ImportOutcome {
  imageId?: string;
  /** Every call made, in order (the request ids to look up in HAProxy's log). */
  calls: ImportCall[];
  seconds: number;
}

export interface ImportOptions {
  agent: http.Agent;
  baseUrl: string;
  /** Each node's `worker_self_reference_url`, by HAProxy server name. */
  selfUrls: Record<string, string>;
  nextRequestId: () => string;
  /** How long the image may stay short of `active` after the import was accepted. */
  timeoutMs: number;
  pollMs?: number;
  /**
   * Runs the import call (`POST .../import`); the load's workers pass one that makes those calls one
   * at a time (oneAtATime in importWorker.ts). Default: straight away.
   */
  importCall?: <T>(call: () => Promise<T>) => Promise<T>;
  /**
   * Deletes the image once it is active and checked (the load defers its deletes while imports run);
   * default: a `DELETE` straight away.
   */
  deleteImage?: (imageId: string) => void;
}

interface ImageRecord {
  status?: string;
  /** The import lock: Glance releases it a moment after the image turns active. */
  os_glance_import_task?: string;
  checksum?: string | null;
  os_glance_failed_import?: string;
}

/**
 * Runs one import to the end. Throws a RequestFailure (a call failed) or an ImportFailure (the import
 * failed, never finished, or produced other data), each carrying the calls made so far.
 */
export async function runImport(source: ImportSource, opts: ImportOptions): Promise<ImportOutcome> {
  const started = Date.now();
  const calls: ImportCall[] = [];
  const call = async (
    method: string,
    path: string,
    body?: Buffer,
    contentType?: string,
    baseUrl = opts.baseUrl,
  ) => {
    const requestId = opts.nextRequestId();
    const record: ImportCall = { requestId, method, path };
    calls.push(record);
    const outcome = await exchange(opts.agent, baseUrl, method, path, {
      requestId,
      body,
      contentType,
      onAnswer: (_status, server) => (record.server = server),
    });
    const failed = statusFailure(outcome);
    if (failed) throw failed;
    return outcome;
  };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  let imageId: string | undefined;
  try {
    const name = `load-import-${randomBytes(4).toString("hex")}`;
    const created = await call(
      "POST",
      "/v2/images",
      json({ name, disk_format: "raw", container_format: "bare" }),
      "application/json",
    );
    imageId = (JSON.parse(created.body.toString("utf8")) as { id: string }).id;
    const expectedMd5 = source.method === "glance-direct" ? md5(source.data) : source.md5;
    let importUrl = opts.baseUrl;
    if (source.method === "glance-direct") {
      const staged = await call(
        "PUT",
        `/v2/images/${imageId}/stage`,
        source.data ?? Buffer.alloc(0),
        "application/octet-stream",
      );
      const stageHost = staged.server === undefined ? undefined : opts.selfUrls[staged.server];
      if (stageHost === undefined) {
        throw new ImportFailure(
          "import-failed",
          `image ${imageId}: no self URL for the node that staged it (${staged.server ?? "unknown"})`,
        );
      }
      importUrl = stageHost;
    }
    const method =
      source.method === "glance-direct"
        ? { name: "glance-direct" }
        : { name: "web-download", uri: source.uri };
    const accept = () =>
      call("POST", `/v2/images/${imageId}/import`, json({ method }), "application/json", importUrl);
    await (opts.importCall ? opts.importCall(accept) : accept());
    const deadline = Date.now() + opts.timeoutMs;
    let last: ImageRecord = {};
    for (;;) {
      last = JSON.parse((await call("GET", `/v2/images/${imageId}`)).body.toString("utf8")) as ImageRecord;
      // Done once the task has let go of its lock too: a delete before that races the task's last
      // writes (Glance answers 500 and logs "did not hold the lock upon completion").
      if (last.status === "active" && !last.os_glance_import_task) break;
      if (last.os_glance_failed_import || last.status === "killed" || last.status === "deleted") {
        throw new ImportFailure(
          "import-failed",
          `image ${imageId} ended ${last.status} (failed import: ${last.os_glance_failed_import ?? "-"})`,
        );
      }
      if (Date.now() >= deadline) {
        throw new ImportFailure(
          "import-stuck",
          `image ${imageId} still ${last.status} ${opts.timeoutMs} ms after its import was accepted`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 250));
    }
    if (last.checksum !== expectedMd5) {
      throw new ImportFailure(
        "checksum-mismatch",
        `image ${imageId} is active with checksum ${last.checksum}, expected ${expectedMd5}`,
      );
    }
    if (opts.deleteImage) opts.deleteImage(imageId);
    else await call("DELETE", `/v2/images/${imageId}`);
    return { imageId, calls, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    Object.assign(error as object, { imageId, calls });
    throw error;
  }
}

function md5(data: Buffer | undefined): string {
  return createHash("md5")
    .update(data ?? Buffer.alloc(0))
    .digest("hex");
}
