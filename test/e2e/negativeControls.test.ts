/**
 * Negative controls for the zero-failure check every e2e test relies on (DESIGN.md §7): on a real
 * lab under the same load, three ways of taking nodes away that DO cut requests, each of which the
 * check must report, with the kind of failure it causes. A zero from the check means something only
 * because these runs show it non-zero.
 *
 * (a) a node killed while in rotation (frozen for a second, as a hung node is, then SIGKILLed);
 * (b) a node stopped gracefully but without a drain (new requests keep coming to it until HAProxy's
 *     health check marks it down);
 * (c) the kolla-ansible sequence: the first node stopped with no drain for expand and migrate, then
 *     the remaining nodes restarted at once.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitNodeHealthy } from "../../lab/glanceNode";
import { HAPROXY_BACKEND, LabState, runGlanceNode } from "../../lab/lab";
import { LoadReport, RunningLoad, startLoad } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import { kollaStyleUpgrade, Phase } from "../../lab/sequences/kollaStyle";
import { labHaproxyLog, Violation, zeroFailureViolations } from "../../lab/load/verdict";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { pollFor, sleep } from "../support/faultTools";
import { freshLab, removeLab } from "../support/labFixture";

const WARMUP_MS = 3_000;
/**
 * Control (a) needs a download the node is still SENDING when it dies: an 8 MiB seed held unread fits
 * whole in the socket buffers between the node and the client (~10 MiB on loopback), so the node has
 * finished with it. An image this large cannot fit, so a held download of it keeps the node writing.
 */
const LARGE_IMAGE_BYTES = 48 * 1024 * 1024;

/** Runs `fault` under load (warmed up before, and running on after it); returns the report and its verdict. */
async function underLoad<T>(
  lab: LabState,
  fault: (load: RunningLoad) => Promise<T>,
  largeImageBytes = 0,
): Promise<{ report: LoadReport; violations: Violation[]; result: T }> {
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages, largeImageBytes });
  let result: T;
  let report: LoadReport;
  try {
    await sleep(WARMUP_MS);
    result = await fault(load);
    await sleep(WARMUP_MS);
  } finally {
    report = await load.stop();
  }
  const violations = zeroFailureViolations(report, {
    minRequests: 100,
    haproxyLines: readHaproxyLog(labHaproxyLog(lab)),
  });
  console.log(
    `${report.requests} requests, ${report.failures} failed: ${JSON.stringify(report.failuresByType)}; ` +
      `rules: ${[...new Set(violations.map((v) => v.rule))].join(", ")}`,
  );
  return { report, violations, result };
}

/** Waits until one of the load's held downloads is in flight on `server`, answered and unread. */
function heldDownloadOn(load: RunningLoad, server: string, notOf: string[] = []): Promise<void> {
  return pollFor(
    `a held download on ${server}`,
    () =>
      load.inFlight().some((r) => r.held && r.server === server && !notOf.some((id) => r.path.includes(id))),
    { timeoutMs: 30_000 },
  );
}

function pidOf(lab: LabState, node: string): number {
  return Number(fs.readFileSync(path.join(lab.dir, "nodes", node, "glance-api.pid"), "utf8").trim());
}

/** Starts a node that is down and waits until HAProxy has it back UP. */
async function bringBack(lab: LabState, node: string): Promise<void> {
  const started = await runGlanceNode(lab.dir, ["start", node]);
  expect(started.code, started.stderr).toBe(0);
  await waitNodeHealthy(lab.nodes.find((n) => n.name === node) ?? lab.nodes[0]);
  await pollFor(
    `HAProxy to see ${node} UP`,
    async () =>
      (await readBackendServers(lab.haproxy.runtimeApi, HAPROXY_BACKEND)).find((s) => s.server === node)
        ?.status === "UP",
    { timeoutMs: 30_000 },
  );
}

function rules(violations: Violation[]): string[] {
  return [...new Set(violations.map((v) => v.rule))];
}

describe("negative controls: the zero-failure check fails when the fleet does not serve", () => {
  let lab: LabState;

  beforeAll(async () => {
    lab = await freshLab(3);
  });
  afterAll(async () => {
    await removeLab(lab);
  });

  it("(a) a node killed in rotation: requests reset before any answer, downloads cut mid-body, abnormal HAProxy lines", async () => {
    const { report, violations } = await underLoad(
      lab,
      async (load) => {
        // A held download of the large image (not of a seed) on node-2.
        await heldDownloadOn(
          load,
          "node-2",
          lab.seedImages.map((image) => image.id),
        );
        const pid = pidOf(lab, "node-2");
        process.kill(pid, "SIGSTOP");
        await sleep(1_000);
        process.kill(pid, "SIGKILL");
        await sleep(3_000);
        await bringBack(lab, "node-2");
      },
      LARGE_IMAGE_BYTES,
    );
    expect(rules(violations)).toEqual(
      expect.arrayContaining(["failed requests", "cut downloads", "abnormal HAProxy line"]),
    );
    expect(report.failuresByType["reset-before-answer"], "requests reset before any answer").toBeGreaterThan(
      0,
    );
    expect(report.failuresByType["cut-download"], "downloads cut mid-body").toBeGreaterThan(0);
    expect(report.failureRecords.filter((f) => f.type === "cut-download").map((f) => f.server)).toContain(
      "node-2",
    );
  });

  it("(b) a node stopped without a drain: requests sent to it fail until HAProxy marks it down", async () => {
    const { report, violations } = await underLoad(lab, async (load) => {
      await heldDownloadOn(load, "node-3");
      const stopped = await runGlanceNode(lab.dir, ["stop", "node-3"]);
      expect(stopped.code, stopped.stderr).toBe(0);
      await sleep(3_000);
      await bringBack(lab, "node-3");
    });
    expect(rules(violations)).toEqual(expect.arrayContaining(["failed requests", "abnormal HAProxy line"]));
    // A download in flight on it was cut in some runs and not in others (glance-api may finish it after
    // SIGTERM); what every run shows is new requests reaching a closed port: 503s once HAProxy's
    // connection retries run out, until its health check marks the node down.
    expect(report.failuresByType["http-5xx"], "503s from HAProxy for the stopped node").toBeGreaterThan(0);
  });

  it("(c) the kolla-ansible sequence: nodes stopped with no drain and restarted at once, requests fail", async () => {
    const { report, violations, result } = await underLoad(lab, () => kollaStyleUpgrade(lab));
    const phases: Phase[] = result;
    // Where the failures fell: HAProxy answers a request for a stopped node with a 503 once its
    // connection retries (about 3 s) run out, so each phase is credited until 5 s after it ended.
    for (const phase of phases) {
      const failed = report.failureRecords.filter(
        (f) => f.at >= phase.startedAt && f.at <= phase.endedAt + 5_000,
      ).length;
      console.log(
        `kolla-style phase "${phase.name}": ${((phase.endedAt - phase.startedAt) / 1000).toFixed(1)} s, ${failed} failures`,
      );
    }
    expect(rules(violations)).toEqual(expect.arrayContaining(["failed requests", "abnormal HAProxy line"]));
    expect(report.failuresByType["http-5xx"], "503s for requests sent to a stopped node").toBeGreaterThan(0);
    for (const node of lab.nodes) {
      expect((await runGlanceNode(lab.dir, ["release", node.name])).stdout.trim()).toBe(lab.toRelease);
    }
  });
});
