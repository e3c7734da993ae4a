/**
 * Image imports across the upgrade: Glance runs an import inside one node's glance-api after
 * answering 202, where the load balancer sees nothing. With import workers in the load (glance-direct,
 * and web-download from a slow loopback source so imports are running when drains start), the
 * driver's drain waits for them: every import ends `active` with the right checksum. The negative
 * control turns the wait off (`importDrainTimeoutSeconds: 0`) and must see imports lost.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabState } from "../../lab/lab";
import { startLoad, type LoadReport } from "../../lab/load/client";
import { startSlowSource, type SlowSource } from "../../lab/load/slowSource";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { importSourcePort, LAB_IDENTITY_HEADERS } from "../../lab/state";
import { importsInFlight } from "../../steps/db/imports";
import { type DriverRun, TestStack } from "../support/driverFixture";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const NODES = 3;
const WARMUP_MS = 6_000;
/** 12 MiB at 2 MiB/s: each web-download import runs ~6 s inside a node. */
const SOURCE_BYTES = 12 * 1024 * 1024;
const SOURCE_RATE = 2 * 1024 * 1024;
/** Three web-download workers keep about three imports running, spread over the nodes. */
const WEB_WORKERS = 3;

async function upWithImports(
  lab: LabState,
  stack: TestStack,
  opts: { bytesPerSecond?: number; beforeUp?: (source: SlowSource) => Promise<void> } = {},
): Promise<{ run: DriverRun; load: LoadReport; source: SlowSource }> {
  const source = await startSlowSource({
    bytes: SOURCE_BYTES,
    bytesPerSecond: opts.bytesPerSecond ?? SOURCE_RATE,
    port: importSourcePort(lab.nodes),
  });
  const load = startLoad({
    baseUrl: lab.haproxy.frontendUrl,
    seedImages: lab.seedImages,
    imports: {
      selfUrls: Object.fromEntries(lab.nodes.map((n) => [n.name, n.selfUrl])),
      source,
      webWorkers: WEB_WORKERS,
      timeoutMs: 60_000,
    },
  });
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  await opts.beforeUp?.(source);
  const run = await stack.driver("up");
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  const report = await load.stop();
  await source.stop();
  return { run, load: report, source };
}

function dbOf(lab: LabState) {
  return {
    host: lab.db.host,
    port: lab.db.port,
    user: lab.db.glance.user,
    password: lab.db.glance.password,
    database: lab.db.database,
  };
}

/** What each drain of the run waited for, from its end event in the timeline. */
function importWaits(run: DriverRun): Array<{ step: string; waitedFor: string[]; seconds: number }> {
  return run.timeline
    .filter((e) => e.event === "end" && e.kind === "drain")
    .map((e) => {
      const result = (e.result ?? {}) as { importsWaitedFor?: string[]; importSeconds?: number };
      return { step: e.step, waitedFor: result.importsWaitedFor ?? [], seconds: result.importSeconds ?? 0 };
    });
}

describe("imports under an upgrade: the drain waits for them", () => {
  let lab: LabState;
  let stack: TestStack;
  let result: Awaited<ReturnType<typeof upWithImports>>;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    stack = TestStack.unique("e2e-imports", labStackConfig(lab, { transport: "local" }), LAB_SECRETS);
    result = await upWithImports(lab, stack);
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("upgrades with every import ending active with its checksum, and a drain that waited for one", async () => {
    const { run, load } = result;
    expect(run.code, run.stdout).toBe(0);
    const imports = load.imports ?? [];
    expect(imports.filter((i) => i.kind === "import-web").length).toBeGreaterThanOrEqual(3);
    expect(imports.filter((i) => i.kind === "import-direct").length).toBeGreaterThanOrEqual(3);
    expect(
      imports.filter((i) => !i.ok),
      load.failureSamples.join("\n"),
    ).toEqual([]);
    expectZeroFailedRequests(load, { minRequests: 100, haproxyLog: lab, drains: drainStarts(run.timeline) });
    const waits = importWaits(run);
    expect(waits.length).toBe(NODES);
    expect(
      waits.filter((w) => w.waitedFor.length > 0),
      JSON.stringify(waits),
    ).not.toEqual([]);
    expect(run.stdout).toMatch(/importsWaitedFor/);
    expect(await importsInFlight(dbOf(lab))).toEqual([]);
  });
});

describe("negative control: the same run with the import wait turned off loses imports", () => {
  let lab: LabState;
  let stack: TestStack;
  let result: Awaited<ReturnType<typeof upWithImports>>;
  /** A web-download import sent to node-1 (the NEW NODE, stopped first) just before `up`. */
  let pinned: string;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    const config = labStackConfig(lab, { transport: "local" });
    const loadBalancer = {
      ...(config.loadBalancer as Record<string, unknown>),
      importDrainTimeoutSeconds: 0,
    };
    stack = TestStack.unique("e2e-imports-off", { ...config, loadBalancer }, LAB_SECRETS);
    // Imports of ~40 s, and one that is sure to run on node-1 when its drain (with no import wait)
    // lets it be stopped: it would take an hour, so it is still running however slowly the machine
    // gets to node-1 (a run on a busy machine took over 40 s to, and that import finished first).
    result = await upWithImports(lab, stack, {
      bytesPerSecond: SOURCE_BYTES / 40,
      beforeUp: async (source) => {
        pinned = await importOn(
          lab.haproxy.frontendUrl,
          lab.nodes[0].selfUrl,
          source.image(10_000, SOURCE_BYTES / 3600).url,
        );
      },
    });
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("completes the upgrade, but the import running on node-1 is lost", async () => {
    const { run, load } = result;
    expect(run.code, run.stdout).toBe(0);
    expect(importWaits(run).every((w) => w.waitedFor.length === 0)).toBe(true);
    const stillImporting = await importsInFlight(dbOf(lab));
    expect(await imageStatus(lab, pinned), JSON.stringify(stillImporting)).not.toBe("active");
    const lost = (load.imports ?? []).filter((i) => !i.ok);
    expect(lost.length + stillImporting.length).toBeGreaterThan(0);
  });
});

/** Creates an image through the frontend and starts its web-download import on one node; its id. */
async function importOn(frontendUrl: string, nodeUrl: string, uri: string): Promise<string> {
  const post = async (url: string, body: unknown): Promise<Response> =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...LAB_IDENTITY_HEADERS },
      body: JSON.stringify(body),
    });
  const created = await post(`${frontendUrl}/v2/images`, {
    name: "pinned-import",
    disk_format: "raw",
    container_format: "bare",
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const accepted = await post(`${nodeUrl}/v2/images/${id}/import`, { method: { name: "web-download", uri } });
  expect(accepted.status).toBe(202);
  return id;
}

async function imageStatus(lab: LabState, id: string): Promise<string> {
  const conn = await mysql.createConnection(dbOf(lab));
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT status FROM images WHERE id = ?", [id]);
    return String(rows[0]?.status);
  } finally {
    await conn.end();
  }
}
