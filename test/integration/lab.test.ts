/**
 * The lab end to end, without Pulumi: a 2-node fleet of real Glance (release A) behind real HAProxy on
 * real MariaDB, under continuous client load; then a hand-driven rolling upgrade to release B with
 * the same commands the stack runs (HAProxy runtime API drain, glance-node stop/switch/start,
 * glance-manage db expand/migrate/check/contract), which must cost the clients nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../steps/context";
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../../steps/lb/haproxyRuntime";
import { waitNodeHealthy } from "../../lab/glanceNode";
import { LabState, labDown, labUp, runGlanceNode } from "../../lab/lab";
import { nodePortRun, type LabNode } from "../../lab/state";
import { requireVenv } from "../../lab/venvs";
import { startLoad } from "../../lab/load/client";
import { releaseInfo } from "../../lab/releases";
import { findFreePort, findFreePortRun } from "../../lab/services/ports";
import { sha256Of } from "../support/labFixture";
import { expectZeroFailedRequests } from "../support/loadAssertions";

const FROM = "2023.2";
const TO = "2024.1";

async function serverStat(state: LabState, node: string): Promise<{ status: string; scur: number }> {
  const servers = serverStatsOf(
    parseStatCsv(await runtimeCommand(state.haproxy.runtimeApi, "show stat")),
    state.haproxy.backendName,
  );
  const server = servers.find((s) => s.server === node);
  if (server === undefined) throw new Error(`HAProxy has no server ${node}`);
  return server;
}

async function glanceNode(state: LabState, ...args: string[]): Promise<string> {
  const result = await runGlanceNode(state.dir, args);
  expect(result.code, `glance-node ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

async function dbCheck(state: LabState, node: string): Promise<number> {
  return (await runGlanceNode(state.dir, ["manage", node, "db", "check"])).code;
}

/** What the upgrade does to one node; `migrate` runs the schema steps while the node is down. */
async function upgradeNode(
  state: LabState,
  node: LabNode,
  migrate: boolean,
): Promise<{ drainMs: number; startToHealthyMs: number }> {
  const server = `${state.haproxy.backendName}/${node.name}`;
  // Drain while a request is in flight on the node (seen twice, 300 ms apart: a slow download).
  let seen = 0;
  await pollUntil(
    async () =>
      (seen = (await serverStat(state, node.name)).scur > 0 ? seen + 1 : 0) >= 2 ? true : undefined,
    {
      timeoutMs: 30_000,
      intervalMs: 300,
      describe: () => `a download in flight on ${server}`,
    },
  );
  const drainStarted = Date.now();
  await runtimeCommand(state.haproxy.runtimeApi, `set server ${server} state drain`);
  await pollUntil(async () => ((await serverStat(state, node.name)).scur === 0 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
    describe: () => `${server} to have no session in flight`,
  });
  const drainMs = Date.now() - drainStarted;
  await glanceNode(state, "stop", node.name);
  expect(await glanceNode(state, "status", node.name)).toBe("stopped");
  await glanceNode(state, "switch", node.name, TO);
  expect(await glanceNode(state, "version", node.name)).toBe(releaseInfo(TO).glanceVersion);
  if (migrate) {
    expect(await dbCheck(state, node.name)).toBe(3); // expand needed, says the new code
    await glanceNode(state, "manage", node.name, "db", "expand");
    await glanceNode(state, "manage", node.name, "db", "migrate");
    expect(await dbCheck(state, node.name)).toBe(5); // only contract left
  }
  const started = Date.now();
  await glanceNode(state, "start", node.name);
  await waitNodeHealthy(node);
  const startToHealthyMs = Date.now() - started;
  await runtimeCommand(state.haproxy.runtimeApi, `set server ${server} state ready`);
  await pollUntil(async () => ((await serverStat(state, node.name)).status === "UP" ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
    describe: () => `${server} to be UP again`,
  });
  return { drainMs, startToHealthyMs };
}

describe("the Glance lab (2 nodes, real HAProxy, real MariaDB)", () => {
  let dir: string;
  let state: LabState;

  beforeAll(async () => {
    requireVenv(FROM); // fails with: run "bash scripts/setup-glance.sh <release>" first
    requireVenv(TO);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-lab-"));
    const started = Date.now();
    state = await labUp({
      dir,
      nodes: 2,
      fromRelease: FROM,
      toRelease: TO,
      ports: {
        mariadb: await findFreePort(),
        haproxyFrontend: await findFreePort(),
        haproxyRuntimeTcp: 0,
        firstNode: await findFreePortRun(nodePortRun(2)),
      },
      log: (line) => console.log(`[lab] ${line}`),
    });
    console.log(`lab up in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    if (dir === undefined) return;
    await labDown(dir, { purge: true, log: (line) => console.log(`[lab] ${line}`) });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is up: lab.json, both nodes on release A, HAProxy sees them UP, a second labUp reuses it", async () => {
    expect(JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")).nodes).toHaveLength(2);
    for (const node of state.nodes) {
      expect(await glanceNode(state, "status", node.name)).toBe("running");
      expect(await glanceNode(state, "version", node.name)).toBe(releaseInfo(FROM).glanceVersion);
      expect((await serverStat(state, node.name)).status).toBe("UP");
    }
    const pids = state.nodes.map((node) => fs.readFileSync(path.join(node.dir, "glance-api.pid"), "utf8"));
    const again = await labUp({
      dir,
      nodes: 2,
      fromRelease: FROM,
      toRelease: TO,
      ports: state.ports,
      log: () => undefined,
    });
    expect(again.haproxy.pid).toBe(state.haproxy.pid);
    expect(again.seedImages).toEqual(state.seedImages);
    expect(state.nodes.map((node) => fs.readFileSync(path.join(node.dir, "glance-api.pid"), "utf8"))).toEqual(
      pids,
    );
  });

  it("serves continuous load with no failure", async () => {
    const load = startLoad({ baseUrl: state.haproxy.frontendUrl, seedImages: state.seedImages });
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const report = await load.stop();
    console.log(
      `steady load: ${report.requests} requests, ${report.requestsPerSecond.toFixed(1)} req/s, ${report.failures} failures`,
    );
    // A floor against an idle load, not a throughput target (a busy 2-core machine makes ~40/s).
    expectZeroFailedRequests(report, { minRequests: 150, haproxyLog: state });
  });

  it("refuses to switch a running node", async () => {
    const result = await runGlanceNode(state.dir, ["switch", "node-1", TO]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/is running .*stop it before switching/);
    expect(await glanceNode(state, "release", "node-1")).toBe(FROM);
  });

  it("upgrades node by node under load with no failed request, then contracts the schema", async () => {
    const load = startLoad({ baseUrl: state.haproxy.frontendUrl, seedImages: state.seedImages });
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // slow downloads in flight on both nodes
    const first = await upgradeNode(state, state.nodes[0], true);
    const second = await upgradeNode(state, state.nodes[1], false);
    const report = await load.stop();
    console.log(
      `upgrade under load: ${report.requests} requests, ${report.requestsPerSecond.toFixed(1)} req/s, ` +
        `${report.failures} failures, max ${report.maxDownloadsInFlight} downloads in flight; ` +
        `node-1 drain ${first.drainMs} ms, start-to-healthy ${first.startToHealthyMs} ms; ` +
        `node-2 drain ${second.drainMs} ms, start-to-healthy ${second.startToHealthyMs} ms`,
    );
    expectZeroFailedRequests(report, { minRequests: 200, haproxyLog: state });

    await glanceNode(state, "manage", "node-1", "db", "contract");
    expect(await dbCheck(state, "node-1")).toBe(0);
    for (const node of state.nodes) {
      expect(await glanceNode(state, "version", node.name)).toBe(releaseInfo(TO).glanceVersion);
      for (const image of state.seedImages) {
        expect(await sha256Of(`http://${node.address}/v2/images/${image.id}/file`)).toBe(image.sha256);
      }
    }
  });
});
