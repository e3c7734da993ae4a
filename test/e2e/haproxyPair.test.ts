/**
 * Two HAProxy instances in front of the lab's nodes (an active/standby pair, both taking traffic
 * here), through the driver under continuous load on BOTH frontends: a full upgrade fails no request,
 * and one instance's runtime API killed in the middle of node-2's drain halts the run with each
 * instance's state reported.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAPROXY_BACKEND, LabState, runGlanceNode } from "../../lab/lab";
import { RunningHaproxy } from "../../lab/services/haproxy";
import { LoadReport, RunningLoad, startLoad } from "../../lab/load/client";
import { LAB_SECRETS, labStackConfig } from "../../lab/stack";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { DriverRun, TestStack } from "../support/driverFixture";
import {
  HeldDownload,
  holdDownloadOn,
  labTrustSetting,
  latestProgress,
  pollFor,
  sleep,
  TcpProxy,
} from "../support/faultTools";
import { startSecondHaproxy } from "../support/haproxyPair";
import { invariantViolations } from "../support/invariants";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests, labHaproxyLog } from "../support/loadAssertions";

const NODES = 3;
const LOAD_WARMUP_MS = 3_000;
/** Past this the run starts anyway, and the verdict reports a drain it left uncovered. */
const COVERAGE_TIMEOUT_MS = 30_000;

type Config = Record<string, unknown>;

function withRuntimeApis(config: Config, runtimeApis: string[]): Config {
  return { ...config, loadBalancer: { ...(config.loadBalancer as Config), runtimeApi: runtimeApis } };
}

function output(run: DriverRun): string {
  return `${run.stdout}\n--- stderr ---\n${run.stderr}`;
}

/** Load on both frontends, warmed up before the run starts. */
async function startPairLoad(lab: LabState, b: RunningHaproxy): Promise<RunningLoad[]> {
  const loads = [lab.haproxy.frontendUrl, b.frontendUrl].map((baseUrl) =>
    startLoad({ baseUrl, seedImages: lab.seedImages }),
  );
  await sleep(LOAD_WARMUP_MS);
  // The verdict wants each drain to find a held download of EACH load on its node. Once a load holds
  // one on every node it keeps them covered (a newer hold replaces an older one), but reaching that
  // takes a few seconds per load: wait for it rather than trust the warmup (a CI run's first drain
  // once began before the second load held one on node-1).
  const covered = () =>
    loads.every((load) =>
      lab.nodes.every((node) => load.inFlight().some((r) => r.held && r.server === node.name)),
    );
  const deadline = Date.now() + COVERAGE_TIMEOUT_MS;
  while (!covered() && Date.now() < deadline) await sleep(100);
  return loads;
}

async function stopPairLoad(loads: RunningLoad[]): Promise<LoadReport[]> {
  await sleep(LOAD_WARMUP_MS);
  return Promise.all(loads.map((load) => load.stop()));
}

function expectZeroFailures(
  reports: LoadReport[],
  minRequests: number,
  logs: string[],
  timeline: DriverRun["timeline"],
): void {
  for (const [i, report] of reports.entries()) {
    expectZeroFailedRequests(report, {
      minRequests,
      haproxyLog: logs[i],
      drains: drainStarts(timeline),
      label: `requests through HAProxy ${i === 0 ? "a" : "b"}`,
    });
  }
}

async function statuses(runtimeApi: string): Promise<Record<string, string>> {
  const servers = await readBackendServers(runtimeApi, HAPROXY_BACKEND);
  return Object.fromEntries(servers.map((s) => [s.server, s.status]));
}

describe("HAProxy pair: a full upgrade with the load client on both frontends", () => {
  let lab: LabState;
  let b: RunningHaproxy;
  let stack: TestStack;
  let run: DriverRun;
  let reports: LoadReport[];

  beforeAll(async () => {
    lab = await freshLab(NODES);
    b = await startSecondHaproxy(lab);
    const config = withRuntimeApis(labStackConfig(lab, { transport: "local" }), [
      lab.haproxy.runtimeApi,
      b.runtimeApi,
    ]);
    stack = TestStack.unique("e2e-pair", config, LAB_SECRETS);
    const loads = await startPairLoad(lab, b);
    run = await stack.driver("up");
    reports = await stopPairLoad(loads);
  });

  afterAll(async () => {
    stack?.remove();
    await b?.stop();
    await removeLab(lab);
  });

  it("upgrades 3 nodes A -> B with 0 failed requests through either HAProxy", async () => {
    expect(run.code, output(run)).toBe(0);
    expectZeroFailures(reports, 300, [labHaproxyLog(lab), b.logPath], run.timeline);
    for (const node of lab.nodes) {
      expect((await runGlanceNode(lab.dir, ["version", node.name])).stdout.trim()).toBe("28.2.0");
    }
    const allUp = { "node-1": "UP", "node-2": "UP", "node-3": "UP" };
    expect(await statuses(lab.haproxy.runtimeApi)).toEqual(allUp);
    expect(await statuses(b.runtimeApi)).toEqual(allUp);
  });

  it("drained and admitted every node on both instances, in plan order (I1-I6 on the timeline)", () => {
    expect(
      invariantViolations(run.timeline, {
        newNode: "node-1",
        waves: [["node-2"], ["node-3"]],
        minHealthyInRotation: 2,
      }),
    ).toEqual([]);
    for (const node of ["node-1", "node-2", "node-3"]) {
      expect(run.stdout).toMatch(new RegExp(`\\[${node}/drain\\].*set to DRAIN on 2 HAProxy instances`));
      expect(run.stdout).toMatch(
        new RegExp(`\\[${node}/admit\\].*passed the health checks of every HAProxy instance`),
      );
    }
    expect(run.stdout).toMatch(/all expected and UP on 2 HAProxy instances/);
  });
});

describe("HAProxy pair: the second instance's runtime API dies during node-2's drain", () => {
  let lab: LabState;
  let b: RunningHaproxy;
  let proxy: TcpProxy;
  let stack: TestStack;
  let held: HeldDownload;
  let loads: RunningLoad[] | undefined;
  let trustBefore: boolean;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    b = await startSecondHaproxy(lab);
    trustBefore = await labTrustSetting(lab);
    // The stack reaches b's runtime API through a proxy the test kills; b itself keeps serving.
    proxy = await TcpProxy.start({ path: b.runtimeApi.slice("unix:".length) });
    const config = withRuntimeApis(labStackConfig(lab, { transport: "local" }), [
      lab.haproxy.runtimeApi,
      proxy.address,
    ]);
    stack = TestStack.unique("e2e-pair-lost", config, LAB_SECRETS);
    // Keeps node-2's drain waiting on instance a.
    held = await holdDownloadOn({
      frontendUrl: lab.haproxy.frontendUrl,
      imageId: lab.seedImages[0].id,
      server: "node-2",
    });
    loads = await startPairLoad(lab, b);
  });

  afterAll(async () => {
    await Promise.all((loads ?? []).map((load) => load.stop()));
    await proxy?.stop();
    stack?.remove();
    await b?.stop();
    await removeLab(lab);
  });

  it("halts with exit 1 and each instance's state of node-2; nothing stopped, no contract", async () => {
    let settled = false;
    const running = stack.driver("up").finally(() => {
      settled = true;
    });
    const killed = pollFor(
      "node-2's drain to wait for its sessions",
      () =>
        latestProgress(stack.folder).some(
          (line) => line.startsWith("[node-2/drain]") && line.includes("set to DRAIN on 2 HAProxy instances"),
        ),
      { timeoutMs: 240_000, giveUp: () => settled },
    ).then(() => proxy.kill());
    const run = await running;
    await killed;

    expect(run.code, output(run)).toBe(1);
    const failed = run.timeline.filter((e) => e.event === "fail");
    expect(failed.map((e) => e.step)).toEqual(["node-2/drain"]);
    const error = failed[0].error ?? "";
    expect(error).toContain(`lost the HAProxy runtime API of ${proxy.address} while draining glance/node-2`);
    expect(error).toContain(`HAProxy runtime API at ${proxy.address} is unreachable`);
    expect(error).toMatch(
      new RegExp(
        `${lab.haproxy.runtimeApi}: DRAIN \\([1-9]\\d* sessions?\\); ${proxy.address.replaceAll(".", "\\.")}: unreachable \\(last seen DRAIN \\(\\d+ sessions?\\)\\)`,
      ),
    );
    expect(run.stdout + run.stderr).toContain(`lost the HAProxy runtime API of ${proxy.address}`);

    // Both instances really hold node-2 in DRAIN: out of new traffic, nothing cut.
    expect((await statuses(lab.haproxy.runtimeApi))["node-2"]).toBe("DRAIN");
    expect((await statuses(b.runtimeApi))["node-2"]).toBe("DRAIN");
    const started = run.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(started).not.toContain("node-2/stop");
    expect(started.filter((step) => step.startsWith("node-3/"))).toEqual([]);
    expect(started).not.toContain("db/contract");
    expect((await runGlanceNode(lab.dir, ["status", "node-2"])).stdout.trim()).toBe("running");
    expect((await runGlanceNode(lab.dir, ["manage", "node-1", "db", "check"])).code, "contract pending").toBe(
      5,
    );
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });

  it("the held download and the load on both frontends saw no failure", async () => {
    const done = await held.finish();
    expect(done.sha256).toBe(lab.seedImages[0].sha256);
    const reports = await stopPairLoad(loads as RunningLoad[]);
    loads = undefined;
    expectZeroFailures(reports, 100, [labHaproxyLog(lab), b.logPath], stack.timelines());
  });
});
