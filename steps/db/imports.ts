/**
 * Image imports in flight, read from the Glance database. Glance answers an import request
 * (`POST /v2/images/{id}/import`) with 202 at once and runs the import inside one node's glance-api
 * process, so the load balancer sees nothing of it: a drain that waits only for HTTP sessions would
 * stop a node in the middle of one, leaving the image `importing` behind a lock Glance breaks only
 * after 60 minutes.
 *
 * The names read here are Glance's own, present since 22.0 (Wallaby) and checked in the sources of
 * 27.1.1 (2023.2) and 28.2.0 (2024.1): `images.status = 'importing'`; the image property
 * `os_glance_import_task` (the import lock: the id of the task that holds it, set and removed
 * atomically); `tasks.status`; and the image property `os_glance_stage_host` (set by a `glance-direct`
 * stage to the staging node's `worker_self_reference_url`).
 *
 * A running import records no host: Glance removes `os_glance_stage_host` as the import starts
 * (`api_image_import.get_flow`, beside setting the status to `importing`), and a `web-download`
 * never had one. So any node may be running any import, and a drain waits for all of them (seen on
 * the lab: a glance-direct import staged on node-2 showed no stage host from its first second of
 * `importing`). An image staged on the node and not imported yet (`uploading` with the node's stage
 * host) will fail to import while the node is away; the drain reports those.
 */
import type mysql from "mysql2/promise";
import { pollUntil, StepContext, StepError, WaitTimeout } from "../context";
import { DbEndpoint, withConnection } from "./connection";

export interface ImportInFlight {
  imageId: string;
  /** The staging node's self URL, for a `glance-direct` import; undefined when Glance records none. */
  stageHost?: string;
  /** The task holding the import lock, and its status. */
  task?: string;
  taskStatus?: string;
  /** Seconds since the image row last changed. */
  ageSeconds: number;
}

/** Glance breaks an import lock after this long (`_enforce_import_lock`); a pending task's after twice it. */
const LOCK_EXPIRY_SECONDS = 60 * 60;
const LIVE_TASK_STATUSES = new Set(["pending", "processing"]);

const IMPORTS_SQL = `
SELECT i.id AS imageId,
       TIMESTAMPDIFF(SECOND, i.updated_at, UTC_TIMESTAMP()) AS ageSeconds,
       stage.value AS stageHost,
       lck.value AS task,
       t.status AS taskStatus
  FROM images i
  LEFT JOIN image_properties stage
    ON stage.image_id = i.id AND stage.name = 'os_glance_stage_host' AND stage.deleted = 0
  LEFT JOIN image_properties lck
    ON lck.image_id = i.id AND lck.name = 'os_glance_import_task' AND lck.deleted = 0
  LEFT JOIN tasks t
    ON t.id = lck.value AND t.deleted = 0
 WHERE i.status = 'importing' AND i.deleted = 0
 ORDER BY i.updated_at, i.id`;

function optional(value: unknown): string | undefined {
  return value === null || value === undefined || value === "" ? undefined : String(value);
}

/** Every image Glance is importing now, oldest first. */
export async function importsInFlight(db: DbEndpoint): Promise<ImportInFlight[]> {
  return withConnection(db, "read the images being imported", async (conn) => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(IMPORTS_SQL);
    return rows.map((row) => ({
      imageId: String(row.imageId),
      stageHost: optional(row.stageHost),
      task: optional(row.task),
      taskStatus: optional(row.taskStatus),
      ageSeconds: Number(row.ageSeconds ?? 0),
    }));
  });
}

/** The same URL whatever its trailing slashes: Glance compares the configured strings as they are. */
function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

/** Images staged on the node whose `worker_self_reference_url` is `selfUrl` and not imported yet. */
export async function stagedOn(db: DbEndpoint, selfUrl: string): Promise<string[]> {
  return withConnection(db, "read the images staged on a node", async (conn) => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT i.id AS imageId, p.value AS stageHost
         FROM images i
         JOIN image_properties p
           ON p.image_id = i.id AND p.name = 'os_glance_stage_host' AND p.deleted = 0
        WHERE i.status = 'uploading' AND i.deleted = 0
        ORDER BY i.updated_at, i.id`,
    );
    return rows.filter((row) => sameUrl(String(row.stageHost), selfUrl)).map((row) => String(row.imageId));
  });
}

/** Of `ids`, the images still staged and not imported (status `uploading`). */
async function stillStaged(db: DbEndpoint, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  return withConnection(db, "read the images staged on a node", async (conn) => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT id FROM images WHERE id IN (?) AND status = 'uploading' AND deleted = 0",
      [ids],
    );
    return rows.map((row) => String(row.id));
  });
}

/**
 * How long an image staged on the node may stay un-imported before the drain stops waiting for its
 * import call: a client imports right after staging, and that call would reach this node.
 */
const STAGED_GRACE_SECONDS = 10;

/** Imports no node is working on any more: a lock with no live task, or one older than Glance's expiry. */
export function stuckImports(imports: readonly ImportInFlight[]): ImportInFlight[] {
  return imports.filter(
    (i) =>
      i.task === undefined ||
      !LIVE_TASK_STATUSES.has(i.taskStatus ?? "") ||
      i.ageSeconds >= (i.taskStatus === "pending" ? 2 : 1) * LOCK_EXPIRY_SECONDS,
  );
}

export function describeImport(i: ImportInFlight): string {
  const where = i.stageHost ? `staged on ${i.stageHost}` : "no stage host recorded";
  const task = i.task ? `task ${i.task} ${i.taskStatus ?? "missing"}` : "no import lock";
  return `${i.imageId} (${where}, ${task}, ${Math.round(i.ageSeconds)} s since its last change)`;
}

export interface ImportDrainRequest {
  db: DbEndpoint;
  /** The node's `worker_self_reference_url`, to report the images staged on it. */
  selfUrl: string;
  timeoutSeconds: number;
  /** On timeout: halt (the default) or go on, reporting what was still importing. */
  onTimeout: "halt" | "proceed";
  intervalMs?: number;
}

export interface ImportDrainOutcome {
  /** The images being imported (on any node) when the wait began, and those staged here being imported. */
  waitedFor: string[];
  seconds: number;
  /** With `proceed`: the images still importing when the wait ended. */
  leftImporting: string[];
  /** Staged on this node and not imported yet: their import fails while the node is away. */
  stagedHere: string[];
}

/**
 * Called once the node is out of rotation, so no new import reaches it through the load balancer:
 * waits until every import that was in flight at that moment has ended (any of them may be running
 * on this node: a running import records no host), and every image staged here that starts
 * importing meanwhile (another node would send that import here). Imports started later elsewhere
 * are not waited for. Stuck imports (no live task) are not waited for either: nothing will finish
 * them, and the preflight lists them.
 */
export async function waitForImports(req: ImportDrainRequest, ctx: StepContext): Promise<ImportDrainOutcome> {
  const started = performance.now();
  const stagedHere = await stagedOn(req.db, req.selfUrl);
  if (stagedHere.length > 0) {
    ctx.log(
      `staged on ${req.selfUrl} and not imported yet (an import fails while the node is away): ${stagedHere.join(", ")}`,
    );
  }
  const initial = await importsInFlight(req.db);
  const watched = new Set<string>([...stagedHere, ...initial.map((i) => i.imageId)]);
  const seen = new Set<string>();
  /** The watched imports among `all` that a task is still working on. */
  const running = (all: ImportInFlight[]): ImportInFlight[] => {
    const stuck = new Set(stuckImports(all).map((i) => i.imageId));
    const result = all.filter((i) => !stuck.has(i.imageId) && watched.has(i.imageId));
    for (const i of result) seen.add(i.imageId);
    return result;
  };
  let last = running(initial);
  /** Nothing watched is importing, and no image staged here still waits, within the grace, for its import call. */
  const settled = async (): Promise<boolean> => {
    if (last.length > 0) return false;
    const inGrace = (performance.now() - started) / 1000 < STAGED_GRACE_SECONDS;
    return !(inGrace && (await stillStaged(req.db, stagedHere)).length > 0);
  };
  const outcome = (leftImporting: string[], waited: boolean): ImportDrainOutcome => ({
    waitedFor: [...seen],
    seconds: waited ? (performance.now() - started) / 1000 : 0,
    leftImporting,
    stagedHere,
  });
  if (await settled()) return outcome([], false);
  ctx.log(`waiting for ${last.length} image import(s) in flight: ${last.map(describeImport).join("; ")}`);
  try {
    await pollUntil(
      async () => {
        last = running(await importsInFlight(req.db));
        return (await settled()) ? true : undefined;
      },
      {
        timeoutMs: req.timeoutSeconds * 1000,
        intervalMs: req.intervalMs ?? 500,
        signal: ctx.signal,
        describe: () => `image imports still running: ${last.map(describeImport).join("; ")}`,
      },
    );
  } catch (error) {
    if (!(error instanceof WaitTimeout) && !ctx.signal?.aborted) {
      // Not a timeout: the database could not be read, so nothing says the imports ended. Stopping
      // the node now could cut one, whatever onImportTimeout says (it is about imports that run long).
      throw new StepError(
        `${error instanceof Error ? error.message : String(error)}. The image imports could not be read while waiting for them, ` +
          `so the node was not stopped: it is out of rotation and still running. Fix the database connection, then run up again ` +
          `(onImportTimeout: proceed applies to a timeout only, never to a database error)`,
        undefined,
        "DrainFailed",
      );
    }
    if (req.onTimeout === "halt" || ctx.signal?.aborted) {
      throw new StepError(
        `${error instanceof Error ? error.message : String(error)}. The node is out of rotation and still running: ` +
          `let the imports finish and run up again, raise importDrainTimeoutSeconds, or set onImportTimeout: proceed ` +
          `to stop the node anyway (an import it runs then stays 'importing' until Glance breaks its lock after 60 minutes)`,
        undefined,
        ctx.signal?.aborted ? "Cancelled" : "ImportsStillRunning",
      );
    }
    const leftImporting = last.map((i) => i.imageId);
    ctx.log(`proceeding with ${leftImporting.length} import(s) still running (onImportTimeout: proceed)`);
    return outcome(leftImporting, true);
  }
  const done = outcome([], true);
  ctx.log(`image imports done after ${done.seconds.toFixed(1)} s`);
  return done;
}
