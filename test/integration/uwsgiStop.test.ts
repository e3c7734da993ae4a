/**
 * Glance 2026.1 under uWSGI, under the lab's load and verdict (lab/load/verdict.ts), on a 2-node lab
 * behind HAProxy: a node moves from the eventlet server to uWSGI (drain, stop, `glance-node server
 * uwsgi`, start, health, admit) with no failed request; `glance-node stop` of a uWSGI node lets the
 * requests in flight finish (a drained node stopped at once, while a download it is still sending is
 * in flight); and the negative control: SIGTERM, which Glance's uWSGI template (`die-on-term`) makes a
 * stop at once, cuts that download, and the verdict says so.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitNodeHealthy } from "../../lab/glanceNode";
import { HAPROXY_BACKEND, type LabState, runGlanceNode } from "../../lab/lab";
import { type LoadReport, type RunningLoad, startLoad } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import {
  type DrainStart,
  labHaproxyLog,
  type Violation,
  zeroFailureViolations,
} from "../../lab/load/verdict";
import { readBackendServers, runtimeCommand } from "../../steps/lb/haproxyRuntime";
import { pollFor, sleep } from "../support/faultTools";
import { freshLab, removeLab } from "../support/labFixture";
import { requireVenv } from "../../lab/venvs";

const RELEASE = "2026.1";
const WARMUP_MS = 3_000;
/** Larger than the socket buffers between node and client, so a held download keeps the node writing. */
const LARGE_IMAGE_BYTES = 48 * 1024 * 1024;
const TIMEOUT_MS = 300_000;
/**
 * The stop's wait for requests in flight (GLANCE_NODE_STOP_TIMEOUT; glance-node's default is 30 s).
 * The load's two paced slow downloaders read at 1 MiB/s, so one reading LARGE_IMAGE_BYTES keeps a
 * request on the node for about 45 s: a CI run with both on node-2 at the drain saw the default
 * 30 s end with 2 requests still in flight. The stop must outwait the longest request the load makes.
 */
const STOP_TIMEOUT_SECONDS = 90;

async function serverState(lab: LabState, node: string): Promise<{ status: string; scur: number }> {
  const server = (await readBackendServers(lab.haproxy.runtimeApi, HAPROXY_BACKEND)).find(
    (s) => s.server === node,
  );
  if (server === undefined) throw new Error(`HAProxy has no server ${node}`);
  return server;
}

async function glanceNode(lab: LabState, ...args: string[]): Promise<string> {
  const result = await runGlanceNode(lab.dir, args);
  expect(result.code, `glance-node ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

/** Takes the node out of rotation (HAProxy drain: no new requests) and says what was in flight. */
async function drain(lab: LabState, node: string): Promise<DrainStart> {
  const sessionsAtStart = (await serverState(lab, node)).scur;
  const at = Date.now();
  await runtimeCommand(lab.haproxy.runtimeApi, `set server ${HAPROXY_BACKEND}/${node} state drain`);
  return { server: node, at, sessionsAtStart };
}

async function startAndAdmit(lab: LabState, node: string): Promise<void> {
  await glanceNode(lab, "start", node);
  await waitNodeHealthy(lab.nodes.find((n) => n.name === node) ?? lab.nodes[0]);
  await runtimeCommand(lab.haproxy.runtimeApi, `set server ${HAPROXY_BACKEND}/${node} state ready`);
  await pollFor(`HAProxy to see ${node} UP`, async () => (await serverState(lab, node)).status === "UP", {
    timeoutMs: 30_000,
  });
}

/** Waits until a held download of the large image (not a seed) is in flight on `node`. */
function heldLargeDownloadOn(lab: LabState, load: RunningLoad, node: string): Promise<void> {
  const seeds = lab.seedImages.map((image) => image.id);
  return pollFor(
    `a held download of the large image on ${node}`,
    () =>
      load.inFlight().some((r) => r.held && r.server === node && !seeds.some((id) => r.path.includes(id))),
    { timeoutMs: 30_000 },
  );
}

async function underLoad(
  lab: LabState,
  fault: (load: RunningLoad) => Promise<DrainStart>,
): Promise<{ report: LoadReport; violations: Violation[] }> {
  const load = startLoad({
    baseUrl: lab.haproxy.frontendUrl,
    seedImages: lab.seedImages,
    largeImageBytes: LARGE_IMAGE_BYTES,
  });
  let report: LoadReport;
  let drainStart: DrainStart;
  try {
    await sleep(WARMUP_MS);
    drainStart = await fault(load);
    await sleep(WARMUP_MS);
  } finally {
    report = await load.stop();
  }
  const violations = zeroFailureViolations(report, {
    minRequests: 50,
    haproxyLines: readHaproxyLog(labHaproxyLog(lab)),
    drains: [drainStart],
  });
  console.log(
    `${report.requests} requests, ${report.failures} failed ${JSON.stringify(report.failuresByType)}, ` +
      `${report.cutDownloads} cut downloads; rules: ${[...new Set(violations.map((v) => v.rule))].join(", ")}`,
  );
  return { report, violations };
}

function pidOf(lab: LabState, node: string): number {
  return Number(fs.readFileSync(path.join(lab.dir, "nodes", node, "glance-api.pid"), "utf8").trim());
}

describe(`Glance ${RELEASE} under uWSGI: the move from eventlet, and a graceful stop, under load`, () => {
  let lab: LabState;

  beforeAll(async () => {
    requireVenv(RELEASE);
    lab = await freshLab(2, () => undefined, { fromRelease: RELEASE, toRelease: RELEASE });
  });
  afterAll(async () => {
    if (lab !== undefined) await removeLab(lab);
  });

  it(
    "moves node-2 from the eventlet server to uWSGI (drain, stop, server uwsgi, start, admit): 0 failed",
    async () => {
      expect(await glanceNode(lab, "server", "node-2")).toBe("eventlet");
      const { violations } = await underLoad(lab, async (load) => {
        await heldLargeDownloadOn(lab, load, "node-2");
        const drained = await drain(lab, "node-2");
        await pollFor(
          "node-2 to have no session in flight",
          async () => (await serverState(lab, "node-2")).scur === 0,
          {
            timeoutMs: 60_000,
          },
        );
        await glanceNode(lab, "stop", "node-2");
        await glanceNode(lab, "server", "node-2", "uwsgi");
        await startAndAdmit(lab, "node-2");
        return drained;
      });
      expect(violations).toEqual([]);
      expect(await glanceNode(lab, "server", "node-2")).toBe("uwsgi");
      const cmdline = fs
        .readFileSync(`/proc/${pidOf(lab, "node-2")}/cmdline`, "utf8")
        .split("\0")
        .join(" ");
      expect(cmdline).toContain(`uwsgi --ini ${path.join(lab.dir, "nodes", "node-2", RELEASE)}`);
    },
    TIMEOUT_MS,
  );

  it(
    "glance-node stop of a uWSGI node lets the download it is still sending finish: 0 failed",
    async () => {
      let stopMs = 0;
      const { violations } = await underLoad(lab, async (load) => {
        await heldLargeDownloadOn(lab, load, "node-2");
        const drained = await drain(lab, "node-2");
        // At once, with the download in flight: the stop itself must wait for it.
        expect(load.inFlight().some((r) => r.server === "node-2")).toBe(true);
        const started = Date.now();
        process.env.GLANCE_NODE_STOP_TIMEOUT = String(STOP_TIMEOUT_SECONDS);
        try {
          await glanceNode(lab, "stop", "node-2");
        } finally {
          delete process.env.GLANCE_NODE_STOP_TIMEOUT;
        }
        stopMs = Date.now() - started;
        expect(await glanceNode(lab, "status", "node-2")).toBe("stopped");
        await startAndAdmit(lab, "node-2");
        return drained;
      });
      console.log(`graceful uWSGI stop with a download in flight took ${stopMs} ms`);
      expect(violations).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    "negative control: SIGTERM (die-on-term, Glance's template) stops the node at once and cuts that download",
    async () => {
      const { report, violations } = await underLoad(lab, async (load) => {
        await heldLargeDownloadOn(lab, load, "node-2");
        const drained = await drain(lab, "node-2");
        const pid = pidOf(lab, "node-2");
        process.kill(pid, "SIGTERM");
        await pollFor(`uWSGI master ${pid} to be gone`, () => !fs.existsSync(`/proc/${pid}`), {
          timeoutMs: 30_000,
        });
        await sleep(1_000);
        await startAndAdmit(lab, "node-2");
        return drained;
      });
      expect([...new Set(violations.map((v) => v.rule))]).toEqual(expect.arrayContaining(["cut downloads"]));
      expect(report.failureRecords.filter((f) => f.type === "cut-download").map((f) => f.server)).toContain(
        "node-2",
      );
    },
    TIMEOUT_MS,
  );
});
