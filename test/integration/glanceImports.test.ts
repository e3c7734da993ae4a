/**
 * Reading the imports in flight from a real Glance schema: a MariaDB database built by Glance's own
 * `glance-manage db sync` (27.1.1), with rows written the way Glance writes them during an import
 * (the image `importing`, the `os_glance_import_task` lock naming its task, `os_glance_stage_host` for
 * a glance-direct import).
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { venvDir } from "../../lab/venvs";
import { RunningMariadb, startMariadb } from "../../lab/services/mariadb";
import type { DbEndpoint } from "../../steps/db/connection";
import { importsInFlight, stagedOn, stuckImports, waitForImports } from "../../steps/db/imports";
import { runPreflight } from "../../steps/preflight";
import { findFreePort } from "../../lab/services/ports";
import { recordingContext, stepFailure } from "../support/stepHarness";

const NODE_1 = "http://127.0.0.1:19301";
const NODE_2 = "http://127.0.0.1:19302";

let workDir: string;
let server: RunningMariadb;
let db: DbEndpoint;

async function sql(statement: string, values: unknown[] = []): Promise<void> {
  const { host, port, user, password, database } = db;
  const conn = await mysql.createConnection({ host, port, user, password, database });
  try {
    await conn.query(statement, values);
  } finally {
    await conn.end();
  }
}

/** An image as Glance leaves it mid-import; returns its id. */
async function importing(opts: {
  stageHost?: string;
  task?: { status: string; ageMinutes?: number } | "missing";
  status?: string;
  ageMinutes?: number;
}): Promise<string> {
  const id = randomUUID();
  const updated = `UTC_TIMESTAMP() - INTERVAL ${opts.ageMinutes ?? 0} MINUTE`;
  await sql(
    `INSERT INTO images (id, name, status, created_at, updated_at, deleted, min_disk, min_ram, protected, visibility, os_hidden)
     VALUES (?, 'import-test', ?, UTC_TIMESTAMP(), ${updated}, 0, 0, 0, 0, 'shared', 0)`,
    [id, opts.status ?? "importing"],
  );
  if (opts.stageHost) {
    await sql(
      `INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES (?, 'os_glance_stage_host', ?, UTC_TIMESTAMP(), 0)`,
      [id, opts.stageHost],
    );
  }
  if (opts.task) {
    const taskId = randomUUID();
    await sql(
      `INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES (?, 'os_glance_import_task', ?, UTC_TIMESTAMP(), 0)`,
      [id, taskId],
    );
    if (opts.task !== "missing") {
      await sql(
        `INSERT INTO tasks (id, type, status, owner, created_at, updated_at, deleted, image_id)
         VALUES (?, 'api_image_import', ?, 'project-1', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 0, ?)`,
        [taskId, opts.task.status, id],
      );
    }
  }
  return id;
}

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "glance-imports-test-"));
  server = await startMariadb({ dir: path.join(workDir, "mariadb") });
  await server.createDatabase("glance");
  await server.createUser("glance", "imports-test-pw", "ALL ON glance.*");
  db = {
    host: "127.0.0.1",
    port: server.port,
    user: "glance",
    password: "imports-test-pw",
    database: "glance",
  };
  const conf = path.join(workDir, "glance-api.conf");
  fs.writeFileSync(
    conf,
    `[database]\nconnection = mysql+pymysql://glance:imports-test-pw@127.0.0.1:${server.port}/glance\n`,
  );
  const sync = spawnSync(
    path.join(venvDir("2023.2"), "bin", "glance-manage"),
    ["--config-file", conf, "db", "sync"],
    {
      encoding: "utf8",
    },
  );
  expect(sync.status, sync.stderr.slice(-2000)).toBe(0);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("importsInFlight on Glance's own schema", () => {
  it("lists the images being imported with their stage host and lock, and nothing else", async () => {
    const direct = await importing({ stageHost: `${NODE_1}/`, task: { status: "processing" } }); // as in Glance before 22.0
    const web = await importing({ task: { status: "pending" } });
    const active = await importing({ status: "active" });
    await sql("UPDATE image_properties SET deleted = 1 WHERE image_id = ?", [active]);
    const found = await importsInFlight(db);
    const byId = new Map(found.map((i) => [i.imageId, i]));
    expect(byId.get(direct)).toMatchObject({ stageHost: `${NODE_1}/`, taskStatus: "processing" });
    expect(byId.get(direct)?.task).toMatch(/^[0-9a-f-]{36}$/);
    expect(byId.get(web)).toMatchObject({ stageHost: undefined, taskStatus: "pending" });
    expect(byId.has(active)).toBe(false);
    await sql("UPDATE images SET status = 'active' WHERE id IN (?, ?)", [direct, web]);
  });

  it("names the images staged on a node and not imported yet", async () => {
    const stagedOne = await importing({ stageHost: `${NODE_1}/`, status: "uploading" });
    const stagedTwo = await importing({ stageHost: NODE_2, status: "uploading" });
    expect(await stagedOn(db, NODE_1)).toEqual([stagedOne]);
    expect(await stagedOn(db, `${NODE_2}/`)).toEqual([stagedTwo]);
    await sql("UPDATE images SET status = 'active' WHERE id IN (?, ?)", [stagedOne, stagedTwo]);
    expect(await stagedOn(db, NODE_1)).toEqual([]);
  });

  it("calls stuck what no task will finish: no lock, a missing or finished task, a lock past Glance's expiry", async () => {
    const live = await importing({ task: { status: "processing" } });
    const noLock = await importing({});
    const missing = await importing({ task: "missing" });
    const failed = await importing({ task: { status: "failure" } });
    const expired = await importing({ task: { status: "processing" }, ageMinutes: 61 });
    const pendingYoung = await importing({ task: { status: "pending" }, ageMinutes: 61 });
    const stuck = stuckImports(await importsInFlight(db)).map((i) => i.imageId);
    expect(stuck.sort()).toEqual([noLock, missing, failed, expired].sort());
    expect(stuck).not.toContain(live);
    expect(stuck).not.toContain(pendingYoung);
    await sql("UPDATE images SET status = 'active' WHERE status = 'importing'");
  });
});

describe("waitForImports", () => {
  // Each test starts from a database with nothing staged or importing.
  afterEach(() => sql("UPDATE images SET status = 'active'"));

  it("returns at once when nothing is importing", async () => {
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 5, onTimeout: "halt" },
      recordingContext(),
    );
    expect(outcome).toEqual({ waitedFor: [], seconds: 0, leftImporting: [], stagedHere: [] });
  });

  it("waits until every import in flight ends (a running import records no host), and says what it waited for", async () => {
    const id = await importing({ task: { status: "processing" } });
    const other = await importing({ task: { status: "pending" } });
    const stagedElsewhere = await importing({ stageHost: NODE_2, status: "uploading" });
    const ends = setTimeout(
      () => void sql("UPDATE images SET status = 'active' WHERE id IN (?, ?)", [id, other]),
      1_200,
    );
    const ctx = recordingContext();
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 10, onTimeout: "halt", intervalMs: 100 },
      ctx,
    );
    clearTimeout(ends);
    expect(outcome.waitedFor.sort()).toEqual([id, other].sort());
    expect(outcome.seconds).toBeGreaterThanOrEqual(1);
    expect(outcome.seconds).toBeLessThan(5);
    expect(outcome.stagedHere).toEqual([]);
    expect(outcome.stagedHere).not.toContain(stagedElsewhere);
    expect(ctx.lines.join("\n")).toContain(`${id} (no stage host recorded, task`);
  });

  it("does not wait for imports that start elsewhere after the node left rotation", async () => {
    const running = await importing({ task: { status: "processing" } });
    const ends = setTimeout(
      () => void sql("UPDATE images SET status = 'active' WHERE id = ?", [running]),
      1_000,
    );
    let later: string | undefined;
    const starts = setTimeout(
      () => void importing({ task: { status: "processing" } }).then((id) => (later = id)),
      300,
    );
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 10, onTimeout: "halt", intervalMs: 100 },
      recordingContext(),
    );
    clearTimeout(ends);
    clearTimeout(starts);
    expect(outcome.waitedFor).toEqual([running]);
    expect(later).toBeDefined();
    expect(outcome.seconds).toBeLessThan(5);
    await sql("UPDATE images SET status = 'active' WHERE id = ?", [later]);
  });

  it("waits for an image staged on the node that starts importing during the wait", async () => {
    // Its lock and task exist from the import call on; the status follows when the flow starts.
    const staged = await importing({
      stageHost: NODE_1,
      status: "uploading",
      task: { status: "processing" },
    });
    const running = await importing({ task: { status: "processing" } });
    // The import in flight ends after 0.5 s; the staged image starts importing at 0.2 s (Glance sets
    // the status and drops the stage host) and ends at 1.5 s: the wait must last until then.
    const runningEnds = setTimeout(
      () => void sql("UPDATE images SET status = 'active' WHERE id = ?", [running]),
      500,
    );
    const startsImport = setTimeout(
      () => void sql("UPDATE images SET status = 'importing' WHERE id = ?", [staged]),
      200,
    );
    const ends = setTimeout(
      () => void sql("UPDATE images SET status = 'active' WHERE id = ?", [staged]),
      1_500,
    );
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 10, onTimeout: "halt", intervalMs: 100 },
      recordingContext(),
    );
    clearTimeout(startsImport);
    clearTimeout(runningEnds);
    clearTimeout(ends);
    expect(outcome.stagedHere).toEqual([staged]);
    expect(outcome.seconds).toBeGreaterThanOrEqual(1.3);
  });

  it("gives an image staged on the node 10 s for its import call, then reports it", async () => {
    const staged = await importing({ stageHost: NODE_1, status: "uploading" });
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 30, onTimeout: "halt", intervalMs: 200 },
      recordingContext(),
    );
    expect(outcome.stagedHere).toEqual([staged]);
    expect(outcome.waitedFor).toEqual([]);
    expect(outcome.seconds).toBeGreaterThanOrEqual(9.5);
    expect(outcome.seconds).toBeLessThan(15);
  });

  it("halts at its timeout naming the images and what to do", async () => {
    const id = await importing({ task: { status: "processing" } });
    const err = await stepFailure(
      waitForImports(
        { db, selfUrl: NODE_1, timeoutSeconds: 0.5, onTimeout: "halt", intervalMs: 100 },
        recordingContext(),
      ),
    );
    expect(err.message).toContain("timed out after 0.5 s");
    expect(err.message).toContain(id);
    expect(err.message).toContain("onImportTimeout: proceed");
    await sql("UPDATE images SET status = 'active' WHERE id = ?", [id]);
  });

  it("with proceed, goes on at its timeout and reports what was left importing", async () => {
    const id = await importing({ task: { status: "processing" } });
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 0.5, onTimeout: "proceed", intervalMs: 100 },
      recordingContext(),
    );
    expect(outcome.waitedFor).toEqual([id]);
    expect(outcome.leftImporting).toEqual([id]);
    await sql("UPDATE images SET status = 'active' WHERE id = ?", [id]);
  });

  it("with proceed, a database error during the wait halts (never taken for a timeout): the node is not stopped", async () => {
    // Issue 30, finding 9: the error was caught as a timeout, so proceed stopped the node mid-import.
    const id = await importing({ task: { status: "processing" } });
    await server.createUser("imports-flaky", "flaky-pw", "SELECT ON glance.*");
    const flaky: DbEndpoint = { ...db, user: "imports-flaky", password: "flaky-pw" };
    const ctx = recordingContext();
    const started = performance.now();
    const waiting = stepFailure(
      waitForImports(
        { db: flaky, selfUrl: NODE_1, timeoutSeconds: 30, onTimeout: "proceed", intervalMs: 100 },
        ctx,
      ),
    );
    // The wait is under way (the import is in flight); then the database refuses this user.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const { host, port, user, password } = server.rootEndpoint();
    const root = await mysql.createConnection({ host, port, user, password });
    try {
      await root.query("REVOKE SELECT ON glance.* FROM 'imports-flaky'@'%'");
    } finally {
      await root.end();
    }
    const err = await waiting;
    expect(ctx.lines.join("\n")).toContain(`waiting for 1 image import(s) in flight: ${id}`);
    expect(err.message).toContain("could not be read while waiting for them, so the node was not stopped");
    expect(err.message).toContain("onImportTimeout: proceed applies to a timeout only");
    expect(err.message).not.toContain("timed out");
    expect(ctx.lines.join("\n")).not.toContain("proceeding with");
    // It halted at the error, long before its 30 s timeout.
    expect((performance.now() - started) / 1000).toBeLessThan(10);
    await sql("UPDATE images SET status = 'active' WHERE id = ?", [id]);
  });

  it("does not wait for a stuck import", async () => {
    const stuck = await importing({ task: { status: "failure" } });
    const outcome = await waitForImports(
      { db, selfUrl: NODE_1, timeoutSeconds: 5, onTimeout: "halt" },
      recordingContext(),
    );
    expect(outcome.waitedFor).toEqual([]);
    await sql("UPDATE images SET status = 'active' WHERE id = ?", [stuck]);
  });
});

describe("the preflight lists the images stuck in importing, as a warning", () => {
  afterEach(() => sql("UPDATE images SET status = 'active'"));

  it("names each stuck import in its log and result, and not the live ones", async () => {
    const stuck = await importing({ task: { status: "failure" } });
    const live = await importing({ task: { status: "processing" } });
    const ctx = recordingContext();
    const { host, port, user, database } = db;
    // A load balancer nobody answers for: the preflight fails, and still warns about the stuck import.
    const err = await stepFailure(
      runPreflight(
        {
          db: { host, port, user, database },
          target: { release: "2024.1", version: "28.2.0" },
          rollout: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
          lb: {
            type: "haproxy",
            runtimeApis: [`127.0.0.1:${await findFreePort()}`],
            backend: "glance",
            expected: [],
          },
          nodes: [],
        },
        { dbPassword: db.password },
        ctx,
      ),
    );
    expect(err.message).toContain("load balancer: HAProxy runtime API");
    const warning = ctx.lines.find((l) => l.startsWith("WARNING: 1 image(s) stuck in 'importing'"));
    expect(warning).toContain(stuck);
    expect(warning).not.toContain(live);
  });
});

/**
 * Why the lab's load makes its import calls one at a time (lab/load/importWorker.ts): Glance takes
 * the import lock with `image_set_property_atomic`, an UPDATE that finds no row, then an INSERT, in
 * one transaction and with no retry. Under InnoDB's default REPEATABLE READ the UPDATE leaves a gap
 * lock, so two import calls for images in the same index gap deadlock and Glance answers one with 500.
 * Upstream behaviour, on Glance's own schema, with no upgrade anywhere.
 */
describe("Glance's import lock: two import calls at once can deadlock (upstream, upgrade or not)", () => {
  // Two new images past every random uuid: the same gap of image_properties' (image_id, name) index.
  const images = ["ffffffff-ffff-4fff-8fff-fffffffffff1", "ffffffff-ffff-4fff-8fff-fffffffffff2"];
  /** What `image_set_property_atomic` sends for an image with no lock yet: a missed UPDATE, an INSERT. */
  const lockStatements = (image: string): Array<[statement: string, values: string[]]> => [
    [
      "UPDATE image_properties SET value = 'task', deleted = 0 WHERE name = 'os_glance_import_task' AND image_id = ? AND deleted != 0",
      [image],
    ],
    [
      "INSERT INTO image_properties (created_at, updated_at, deleted, image_id, name, value) VALUES (UTC_TIMESTAMP(), UTC_TIMESTAMP(), 0, ?, 'os_glance_import_task', 'task')",
      [image],
    ],
  ];
  let connections: mysql.Connection[] = [];

  beforeAll(async () => {
    for (const id of images) {
      await sql(
        `INSERT INTO images (id, name, status, created_at, deleted, min_disk, min_ram, protected, visibility, os_hidden)
         VALUES (?, 'lock-test', 'queued', UTC_TIMESTAMP(), 0, 0, 0, 0, 'shared', 0)`,
        [id],
      );
    }
  });
  afterEach(async () => {
    await Promise.all(connections.map((c) => c.end()));
    connections = [];
    await sql("DELETE FROM image_properties WHERE image_id IN (?, ?)", images);
  });

  async function connect(): Promise<mysql.Connection> {
    const { host, port, user, password, database } = db;
    const conn = await mysql.createConnection({ host, port, user, password, database });
    connections.push(conn);
    return conn;
  }

  it("the server runs REPEATABLE READ, InnoDB's default and Glance's", async () => {
    const conn = await connect();
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT @@tx_isolation AS isolation");
    expect(rows[0].isolation).toBe("REPEATABLE-READ");
  });

  it("interleaved, as two import calls that arrive together run them, one of the two is a deadlock", async () => {
    const [a, b] = [await connect(), await connect()];
    const [updateA, insertA] = lockStatements(images[0]);
    const [updateB, insertB] = lockStatements(images[1]);
    await a.query("BEGIN");
    await b.query("BEGIN");
    await a.query(updateA[0], updateA[1]);
    await b.query(updateB[0], updateB[1]);
    const first = a.query(insertA[0], insertA[1]).then(
      () => "took the lock",
      (error: { code?: string }) => error.code,
    );
    // The first INSERT now waits for b's gap lock; b's INSERT closes the cycle.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await b.query(insertB[0], insertB[1]).then(
      () => "took the lock",
      (error: { code?: string }) => error.code,
    );
    expect([await first, second].sort()).toEqual(["ER_LOCK_DEADLOCK", "took the lock"]);
  });

  it("one after the other (how the lab's load sends them), both take their lock", async () => {
    const [a, b] = [await connect(), await connect()];
    for (const [conn, image] of [
      [a, images[0]],
      [b, images[1]],
    ] satisfies Array<[mysql.Connection, string]>) {
      await conn.query("BEGIN");
      for (const [statement, values] of lockStatements(image)) await conn.query(statement, values);
      await conn.query("COMMIT");
    }
    const [rows] = await a.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS locks FROM image_properties WHERE image_id IN (?, ?) AND name = 'os_glance_import_task'",
      images,
    );
    expect(rows[0].locks).toBe(2);
  });
});
