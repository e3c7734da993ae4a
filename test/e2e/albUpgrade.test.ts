/**
 * The ALB path proven as the HAProxy path is (issue 32, item 4), on one lab with the lab ALB
 * (lab/labAlb.ts: moto's ELBv2 API with a data plane of AWS's behaviour) and a target group of values
 * AWS accepts, in real seconds: deregistration delay 30 s, health checks every 5 s, healthy and
 * unhealthy thresholds 2. The load client goes through the ALB's listener and the one verdict
 * (lab/load/verdict.ts) reads the ALB's request log as it reads HAProxy's.
 *
 * 1. The upgrade A -> B under load, with a bake of 12 s per node on target health, and a
 *    fault in the middle: node-2 never turns healthy (its health checks fail from right after its
 *    start), so its admit fails, it is deregistered again and the chain halts with the fleet serving;
 *    after the fix the rerun resumes at node-2's admit and completes. 0 failed requests, every kind of
 *    request, every drain with a download in flight at its start, over both runs.
 * 2. Negative control (a): a node stopped right after its deregistration, without waiting for the
 *    drain, fails the verdict.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import {
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { LoadReport, RunningLoad, startLoad } from "../../lab/load/client";
import { isAbnormal, readHaproxyLog } from "../../lab/load/haproxyLog";
import { zeroFailureViolations } from "../../lab/load/verdict";
import { uploadImage } from "../../lab/seedImages";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { elbv2Client } from "../../steps/aws/clients";
import { describeGroup } from "../../steps/lb/alb/targetGroup";
import { readAs } from "../../steps/results";
import type { TimelineEvent } from "../../steps/record";
import { albOf, useTestAwsCredentials } from "../support/albLab";
import { DriverRun, TestStack } from "../support/driverFixture";
import { holdDownloadOn, latestTimeline, pollFor, sleep } from "../support/faultTools";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const NODES = 3;
const DELAY_SECONDS = 30;
/**
 * The least the preflight accepts for the lab's target group (steps/lb/alb/timing.ts): 2 passing
 * checks x 5 s + 2 s check timeout + 10 s margin.
 */
const HEALTH_TIMEOUT_SECONDS = 22;
/** Covers a drain that cannot end early and waits out the delay (AWS shows `draining` until it is over). */
const DRAIN_TIMEOUT_SECONDS = 60;
/**
 * The least the preflight accepts for the lab's group (steps/lb/alb/timing.ts): 2 failed checks x 5 s
 * + 2 s check timeout, the longest the group takes to report a failing target unhealthy.
 */
const BAKE_SECONDS = 12;
const LOAD_WARMUP_MS = 3_000;
const RELEASE_A_VERSION = "27.1.1";
const RELEASE_B_VERSION = "28.2.0";
/** Control (a): an image larger than the buffers between node, ALB and client (see there). */
const LARGE_IMAGE_BYTES = 48 * 1024 * 1024;

function output(run: DriverRun): string {
  return `${run.stdout}\n--- stderr ---\n${run.stderr}`;
}

function startedSteps(run: DriverRun): string[] {
  return run.timeline.filter((e) => e.event === "start").map((e) => e.step);
}

/** Each finished drain's time, by node. */
function drainSeconds(timeline: TimelineEvent[]): Array<{ node: string; seconds: number }> {
  return timeline
    .filter((e) => e.event === "end" && e.kind === "drain" && e.node !== undefined)
    .map((e) => ({ node: e.node ?? "?", seconds: readAs("drain", e.result).drainSeconds ?? Number.NaN }));
}

describe("the ALB lab: an upgrade under load with a node that never turns healthy, and negative control (a)", () => {
  let lab: LabState;
  let alb: NonNullable<LabState["alb"]>;
  let stack: TestStack;
  let elbv2: ElasticLoadBalancingV2Client;
  let load: RunningLoad | undefined;
  let halted: DriverRun;
  let restoreEnv = (): void => undefined;

  /** Target state by node name, as DescribeTargetHealth (unfiltered) lists the group. */
  async function targetStates(): Promise<Record<string, string>> {
    const group = await describeGroup(elbv2, alb.targetGroupArn);
    const nodeOf = (id: string | undefined) =>
      Object.entries(alb.instanceIds).find(([, instance]) => instance === id)?.[0] ?? `${id}`;
    return Object.fromEntries(group.map((d) => [nodeOf(d.Target?.Id), d.TargetHealth?.State ?? "?"]));
  }

  async function version(node: string): Promise<string> {
    return (await runGlanceNode(lab.dir, ["version", node])).stdout.trim();
  }

  async function warmLoad(): Promise<RunningLoad> {
    const running = startLoad({ baseUrl: alb.frontendUrl, seedImages: lab.seedImages });
    await sleep(LOAD_WARMUP_MS);
    return running;
  }

  async function stopLoad(): Promise<LoadReport> {
    await sleep(LOAD_WARMUP_MS);
    const report = await (load as RunningLoad).stop();
    load = undefined;
    return report;
  }

  beforeAll(async () => {
    // The program reaches the lab ALB's ELBv2 API with the SDK; moto wants credentials, any will do.
    restoreEnv = useTestAwsCredentials();
    lab = await freshLab(NODES, undefined, { alb: { deregistrationDelaySeconds: DELAY_SECONDS } });
    alb = albOf(lab);
    elbv2 = elbv2Client({ region: alb.region, endpoint: alb.endpoint });
    stack = TestStack.unique(
      "e2e-alb",
      labStackConfig(lab, {
        transport: "local",
        loadBalancer: "alb",
        bakeSeconds: BAKE_SECONDS,
        healthTimeoutSeconds: HEALTH_TIMEOUT_SECONDS,
        drainTimeoutSeconds: DRAIN_TIMEOUT_SECONDS,
      }),
      LAB_SECRETS,
    );
  });

  afterAll(async () => {
    await load?.stop();
    elbv2?.destroy();
    stack?.remove();
    await removeLab(lab);
    restoreEnv();
  });

  it("node-2 never turns healthy: its admit fails, it is deregistered again, the chain halts with the fleet serving", async () => {
    const disableFile = lab.nodes[1].healthcheckDisableFile;
    load = await warmLoad();
    // node-2's health checks fail from right after its start (its own health gate passed): the ALB
    // never sees the 2 passing checks in a row it needs.
    let settled = false;
    const running = stack.driver("up").finally(() => (settled = true));
    const injected = pollFor(
      "node-2/start to end",
      () => latestTimeline(stack.folder).some((e) => e.step === "node-2/start" && e.event === "end"),
      { timeoutMs: 300_000, giveUp: () => settled },
    ).then(() => fs.writeFileSync(disableFile, ""));
    halted = await running;
    await injected;
    const report = await stopLoad();

    expect(halted.code, output(halted)).toBe(1);
    const failed = halted.timeline.filter((e) => e.event === "fail");
    expect(failed.map((e) => e.step)).toEqual(["node-2/admit"]);
    expect(failed[0].error).toMatch(
      new RegExp(
        `admit of ${alb.instanceIds["node-2"]}:9292 failed: healthy not confirmed after [\\d.]+ s ` +
          `\\(limit ${HEALTH_TIMEOUT_SECONDS} s\\) \\(last health: unhealthy \\(Target\\.ResponseCodeMismatch: ` +
          `Health checks failed with these codes: \\[503\\]\\)\\)\\. It was deregistered again, so it is OUT of rotation`,
      ),
    );
    const started = startedSteps(halted);
    expect(started.filter((step) => step.startsWith("node-3/"))).toEqual([]);
    expect(started).not.toContain("db/contract");
    // node-2 is out (draining until the delay is over); node-1 (B) and node-3 (A) serve.
    const states = await targetStates();
    expect(states["node-1"]).toBe("healthy");
    expect(states["node-3"]).toBe("healthy");
    expect(states["node-2"] ?? "unused").toMatch(/^(draining|unused)$/);
    expect(await version("node-1")).toBe(RELEASE_B_VERSION);
    expect(await version("node-2")).toBe(RELEASE_B_VERSION);
    expect(await version("node-3")).toBe(RELEASE_A_VERSION);
    expectZeroFailedRequests(report, {
      label: "through the lab ALB while the run halted",
      minRequests: 300,
      haproxyLog: alb.logPath,
      drains: drainStarts(halted.timeline),
    });
    fs.rmSync(disableFile);
  });

  it("after the fix the rerun resumes at node-2's admit and completes A -> B: 0 failed, every drain with a download in flight", async () => {
    load = await warmLoad();
    const resumed = await stack.driver("up");
    const report = await stopLoad();
    expect(resumed.code, output(resumed)).toBe(0);
    const started = startedSteps(resumed);
    expect(started[0]).toBe("node-2/admit");
    const finishedBefore = startedSteps(halted).filter((step) => step !== "node-2/admit");
    expect(
      started.filter((step) => finishedBefore.includes(step) && !step.endsWith("/version")),
      "finished steps run again",
    ).toEqual([]);
    expect(started).toContain("db/contract");
    for (const node of lab.nodes) expect(await version(node.name)).toBe(RELEASE_B_VERSION);
    expect(await targetStates()).toEqual({ "node-1": "healthy", "node-2": "healthy", "node-3": "healthy" });

    // The bake on target health, each node after its admission.
    const timelines = stack.timelines();
    const bakes = timelines.filter((e) => e.kind === "bake" && e.event === "end").map((e) => e.node);
    expect(bakes.sort()).toEqual(["node-1", "node-2", "node-3"]);
    expect(resumed.stdout + halted.stdout).toContain("must stay healthy");

    expectZeroFailedRequests(report, {
      label: "through the lab ALB while the rerun completed",
      minRequests: 200,
      haproxyLog: alb.logPath,
      drains: drainStarts(resumed.timeline),
    });
    const drains = drainSeconds(timelines);
    for (const { node, seconds } of drains) {
      console.log(
        `${node} drained in ${seconds} s; the target group's deregistration delay is ${DELAY_SECONDS} s`,
      );
    }
    expect(drains.map((d) => d.node).sort()).toEqual(["node-1", "node-2", "node-3"]);
  });

  it("negative control (a): a node stopped right after its deregistration, without waiting for the drain, fails the verdict", async () => {
    // A download node-3 is still sending when it stops: an image larger than the socket buffers
    // between node, ALB and client (an 8 MiB seed fits in them whole, so the node is done with it).
    const largeImage = await uploadImage(
      lab.haproxy.frontendUrl,
      "control-a-large",
      randomBytes(LARGE_IMAGE_BYTES),
    );
    load = await warmLoad();
    const held = await holdDownloadOn({
      frontendUrl: alb.frontendUrl,
      imageId: largeImage,
      server: "node-3",
    });
    const controlStarted = Date.now();
    // The mistake: deregister, and stop at once.
    await elbv2.send(
      new DeregisterTargetsCommand({
        TargetGroupArn: alb.targetGroupArn,
        Targets: [{ Id: alb.instanceIds["node-3"], Port: alb.port }],
      }),
    );
    const stopped = await runGlanceNode(lab.dir, ["stop", "node-3"]);
    expect(stopped.code, stopped.stderr).toBe(0);
    const heldBytes = await held.finish().then(
      (done) => done.bytes,
      () => -1,
    );
    const report = await stopLoad();
    const albLines = readHaproxyLog(alb.logPath);
    const violations = zeroFailureViolations(report, { minRequests: 50, haproxyLines: albLines });
    const rules = [...new Set(violations.map((v) => v.rule))];
    const onNode3 = albLines.filter(
      (l) => l.acceptedAt >= controlStarted - 60_000 && isAbnormal(l) && l.server === "node-3",
    );
    console.log(
      `control (a): ${report.requests} requests, ${report.failures} failed: ` +
        `${JSON.stringify(Object.fromEntries(Object.entries(report.failuresByType).filter(([, n]) => n > 0)))}; ` +
        `the held download of node-3 got ${heldBytes} of ${LARGE_IMAGE_BYTES} bytes; ` +
        `rules: ${rules.join(", ")}; ALB lines for node-3: ${onNode3.map((l) => `${l.status} ${l.termination}`).join(", ")}`,
    );
    expect(heldBytes, "the download in flight on node-3 was cut").toBeLessThan(LARGE_IMAGE_BYTES);
    expect(rules).toContain("abnormal HAProxy line");
    expect(onNode3.length, "abnormal ALB log lines for node-3").toBeGreaterThan(0);
  });
});
