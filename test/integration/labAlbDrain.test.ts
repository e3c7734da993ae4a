/**
 * The ALB drain that ends when the work ends (issue 32, item 2), on the lab ALB in front of real
 * Glance nodes: the drain step as the provider runs it (steps/dispatch.ts runStep, with the idle
 * probe the component builds: the lab stack's connectionsCommand, `glance-node connections`).
 *
 * The lab ALB here has AWS's default idle timeout (60 s: it keeps its pooled connections to a target
 * open, closing them only when the deregistration completes internally), a propagation lag of 4 s
 * (four times the lab's default) and a deregistration delay of 30 s for the first case. "The work
 * ended" is read from the node's own glance-api.log (eventlet logs a request once it has written its
 * last byte), never from the program's idle detection. The verdict on each load is the one the e2e
 * runs use (lab/load/verdict.ts), over the ALB's request log.
 *
 * LAB_ALB_NEGATIVE_RUNS=N repeats the negative control N times (default 1; 10 while developing).
 */
import {
  DeregisterTargetsCommand,
  ModifyTargetGroupAttributesCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glanceNodeOrThrow, waitNodeHealthy } from "../../lab/glanceNode";
import { LabState, labDown } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import { loadSummary, zeroFailureViolations, type Violation } from "../../lab/load/verdict";
import { uploadImage } from "../../lab/seedImages";
import { labStackConfig } from "../../lab/stack";
import { LAB_IDENTITY_HEADERS } from "../../lab/state";
import { parseStackConfig } from "../../plan/config";
import { elbv2Client } from "../../steps/aws/clients";
import { runStep } from "../../steps/dispatch";
import { albFleetCheck } from "../../steps/lb/alb/fleet";
import { albAdmit } from "../../steps/lb/alb/membership";
import { describeTarget } from "../../steps/lb/alb/targetGroup";
import { connectionsScript } from "../../steps/node/scripts";
import type { StepRequest } from "../../steps/protocol";
import type { DrainResult } from "../../steps/results";
import { albOf, useTestAwsCredentials } from "../support/albLab";
import { freshLab } from "../support/labFixture";
import { recordingContext } from "../support/stepHarness";

const DELAY_SECONDS = 30;
/**
 * The delay once the first case is done: the later ones do not depend on it, and restore faster
 * (the rerun's needs the target still draining P + 1 s after its deregistration and P after that).
 */
const RERUN_DELAY_SECONDS = 15;
/** Above P + 1 s: the positive twin ends on the node idle, not on the delay. */
const SHORT_DELAY_SECONDS = 8;
/**
 * The goal is 2 s after the node's last request; met on a quieter machine (0.8 s and 1.7 s
 * measured), 1.5-4.9 s with the 2 cores shared by load averages of 20-30, of which 0.5-2 s is the
 * client reading the bytes buffered between node and client after the node's last write (what its
 * log marks). A bound CI keeps under load; the test prints the measured figures.
 */
const AFTER_WORK_BOUND_MS = 5_000;
const LAG_MS = 4_000;
/** P for the positive cases: the program's default, above the lab's lag. */
const P_SECONDS = 5;
/** P for the negative control: shorter than the lab's lag. */
const SHORT_P_SECONDS = 0.5;
/** The held download's image: larger than what the loopback socket buffers between node and client hold. */
const HELD_IMAGE_BYTES = 32 * 1024 * 1024;
/** The held download is read at this rate until HOLD_MS after the drain began, then at full speed. */
const HOLD_READ_BYTES_PER_SECOND = 64 * 1024;
const HOLD_MS = 9_000;
const NEGATIVE_RUNS = Number(process.env.LAB_ALB_NEGATIVE_RUNS ?? "1");

let lab: LabState;
let heldImageId = "";
let restoreEnv = (): void => undefined;

beforeAll(async () => {
  restoreEnv = useTestAwsCredentials();
  lab = await freshLab(2, undefined, {
    alb: { deregistrationDelaySeconds: DELAY_SECONDS, propagationLagMs: LAG_MS, idleTimeoutSeconds: 60 },
  });
  heldImageId = await uploadImage(lab.haproxy.frontendUrl, "held-download", randomBytes(HELD_IMAGE_BYTES));
}, 240_000);

afterAll(async () => {
  if (lab) await labDown(lab.dir, { purge: true, log: () => undefined });
  restoreEnv();
});

function node2Ref() {
  const alb = albOf(lab);
  return {
    region: alb.region,
    endpoint: alb.endpoint,
    targetGroupArn: alb.targetGroupArn,
    targetId: alb.instanceIds["node-2"],
    port: alb.port,
  };
}

async function setDelay(seconds: number): Promise<void> {
  const client = elbv2Client(node2Ref());
  await client.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: node2Ref().targetGroupArn,
      Attributes: [{ Key: "deregistration_delay.timeout_seconds", Value: String(seconds) }],
    }),
  );
  client.destroy();
}

/** node-2's drain request as components/nodeUpgrade.ts builds it from the lab's stack config. */
function drainRequest(propagationSeconds: number): StepRequest {
  const secret = { present: true, isSecret: true };
  const config = parseStackConfig(labStackConfig(lab, { transport: "local", loadBalancer: "alb" }), {
    dbPassword: secret,
    dbAdminPassword: secret,
    sshPrivateKey: { present: false, isSecret: false },
  });
  const node = config.nodes[1];
  return {
    kind: "drain",
    lb: { type: "alb", ...node2Ref() },
    minHealthy: 1,
    drainTimeoutSeconds: 60,
    idle: {
      propagationSeconds,
      connections: { transport: "local", script: connectionsScript(config, node), timeoutSeconds: 300 },
    },
  };
}

async function drainNode2(propagationSeconds: number) {
  const ctx = recordingContext();
  const startedAt = Date.now();
  const result = (await runStep(drainRequest(propagationSeconds), {}, ctx)) as DrainResult;
  return { result, startedAt, endedAt: Date.now(), lines: ctx.lines };
}

/** Puts node-2 back: running, healthy, registered and healthy in the target group. */
async function restoreNode2(): Promise<void> {
  const node = lab.nodes[1];
  if ((await glanceNodeOrThrow(lab.dir, ["status", "node-2"])).trim() !== "running") {
    await glanceNodeOrThrow(lab.dir, ["start", "node-2"]);
  }
  await waitNodeHealthy(node);
  await albAdmit({ ...node2Ref(), healthTimeoutSeconds: 90 }, recordingContext());
}

/**
 * The request lines node-2's own log wrote in [fromMs, toMs], each with its time: eventlet writes a
 * request's line once the request is over, in the machine's local time. Health checks are left out:
 * the lab's HAProxy, beside the ALB, checks every node all along (a connection the drain counts too).
 */
function node2RequestEnds(fromMs: number, toMs: number): Array<{ at: number; line: string }> {
  const log = fs.readFileSync(path.join(lab.dir, "nodes", "node-2", "glance-api.log"), "utf8");
  return log.split("\n").flatMap((line) => {
    const stamp = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3})/.exec(line);
    if (!stamp || !/"(GET|PUT|POST|DELETE|PATCH|HEAD) \S+ HTTP\/1\.[01]" \d{3} /.test(line)) return [];
    const at = new Date(`${stamp[1]}T${stamp[2]}`).getTime();
    return at >= fromMs && at <= toMs && !line.includes("/healthcheck") ? [{ at, line }] : [];
  });
}

interface Download {
  status: number;
  bytes: number;
  endedAt: number;
}

/**
 * A download through the ALB, on a connection of its own, served by node-2 (answered by another
 * node it is dropped and asked again, before any load runs): read at HOLD_READ_BYTES_PER_SECOND until
 * `fastFrom()` says otherwise, then at full speed. `started` resolves once node-2 answered.
 */
function heldDownload(imageId: string, fastFrom: () => number) {
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const attempt = (n: number): Promise<Download> =>
    new Promise<Download>((resolve, reject) => {
      const url = `${albOf(lab).frontendUrl}/v2/images/${imageId}/file`;
      const req = http.get(
        url,
        { agent: false, headers: { "x-request-id": `held-${n}`, ...LAB_IDENTITY_HEADERS } },
        (res) => {
          if (res.headers["x-served-by"] !== "node-2") {
            res.destroy();
            if (n >= 10) reject(new Error(`no download served by node-2 in ${n} tries`));
            else resolve(attempt(n + 1));
            return;
          }
          markStarted();
          let bytes = 0;
          res.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
            if (Date.now() >= fastFrom()) return;
            res.pause();
            setTimeout(() => res.resume(), (chunk.length / HOLD_READ_BYTES_PER_SECOND) * 1000);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, endedAt: Date.now() }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
    });
  return { started, done: attempt(1) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rules = (violations: Violation[]) => violations.map((v) => v.rule);

describe("an ALB drain that ends when the work ends, on the lab ALB (idle timeout 60 s, lag 4 s)", () => {
  it("under load with a held download on node-2 (delay 30 s): ends after the node's last request, within the bound; the verdict passes; fleet/verify fails and the admit waits while it is draining", async () => {
    const fastAt = { ms: Number.POSITIVE_INFINITY };
    const held = heldDownload(heldImageId, () => fastAt.ms);
    await held.started;
    const load = startLoad({ baseUrl: albOf(lab).frontendUrl, seedImages: lab.seedImages });
    await sleep(3_000);
    fastAt.ms = Date.now() + HOLD_MS;
    const drained = await drainNode2(P_SECONDS);
    // What the upgrade does next: stop the node at once.
    await glanceNodeOrThrow(lab.dir, ["stop", "node-2"]);
    const stoppedAt = Date.now();
    await sleep(2_000);
    const report = await load.stop();
    const got = await held.done;
    const ends = node2RequestEnds(drained.startedAt, stoppedAt);
    const workEnd = Math.max(...ends.map((e) => e.at));
    const heldEnd = ends.find((e) => e.line.includes(`/v2/images/${heldImageId}/file HTTP/1.1" 200`));
    const settle = drained.startedAt + P_SECONDS * 1000;
    const albLines = readHaproxyLog(albOf(lab).logPath);
    const violations = zeroFailureViolations(report, {
      minRequests: 50,
      haproxyLines: albLines,
      drains: [{ server: "node-2", at: drained.startedAt }],
    });
    console.log(
      `held-download drain of node-2: ${drained.result.drainSeconds} s (${drained.result.endedBy}, delay ` +
        `${DELAY_SECONDS} s, P ${P_SECONDS} s); node-2's last request ended ` +
        `${((workEnd - drained.startedAt) / 1000).toFixed(2)} s after the drain began (the held download at ` +
        `${heldEnd ? ((heldEnd.at - drained.startedAt) / 1000).toFixed(2) : "?"} s, its client done at ` +
        `${((got.endedAt - drained.startedAt) / 1000).toFixed(2)} s); the drain ended ` +
        `${((drained.endedAt - workEnd) / 1000).toFixed(2)} s after the work, ` +
        `${((drained.endedAt - Math.max(workEnd, settle)) / 1000).toFixed(2)} s after max(work end, T0 + P). ` +
        `Load: ${loadSummary(report)}; verdict: ${violations.length === 0 ? "pass" : JSON.stringify(violations)}`,
    );
    // fleet/verify now: the expected node-2 is draining, so not healthy.
    const alb = albOf(lab);
    const verify = albFleetCheck(
      {
        region: alb.region,
        endpoint: alb.endpoint,
        targetGroupArn: alb.targetGroupArn,
        expectedTargetIds: [alb.instanceIds["node-1"], alb.instanceIds["node-2"]],
      },
      recordingContext(),
    );
    await expect(verify).rejects.toThrow(/not healthy: i-[0-9a-f]+: draining/);
    // The admit at once (node-2 starting meanwhile), while node-2 is surely still draining.
    const ctx = recordingContext();
    const admitting = albAdmit({ ...node2Ref(), healthTimeoutSeconds: 90 }, ctx);
    await glanceNodeOrThrow(lab.dir, ["start", "node-2"]);
    await waitNodeHealthy(lab.nodes[1]);
    const admitted = await admitting;
    console.log(`admit after it: ${admitted.admitSeconds} s`);
    expect(ctx.lines.some((line) => line.includes("is still draining"))).toBe(true);
    const client = elbv2Client(node2Ref());
    expect((await describeTarget(client, node2Ref())).healthy).toBe(true);
    client.destroy();
    await setDelay(RERUN_DELAY_SECONDS);
    // Checked last, so that a failure here leaves node-2 back in rotation for the next cases.
    console.log(
      ends
        .slice(-3)
        .map((e) => e.line)
        .join("\n"),
    );
    expect(got).toEqual({ status: 200, bytes: HELD_IMAGE_BYTES, endedAt: got.endedAt });
    expect(heldEnd).toBeDefined();
    expect(drained.result.endedBy).toBe("idle");
    // Never before the node's work ended (its last request, the held download or a download of the
    // load routed to it in the lag); the held download outlasted P, so P alone did not end the drain.
    expect(drained.endedAt).toBeGreaterThanOrEqual(workEnd);
    expect(heldEnd?.at ?? 0).toBeGreaterThan(settle);
    expect(drained.endedAt - workEnd).toBeLessThanOrEqual(AFTER_WORK_BOUND_MS);
    expect(drained.result.drainSeconds).toBeLessThan(DELAY_SECONDS);
    expect(violations).toEqual([]);
  }, 180_000);

  it("a rerun that finds the target already draining takes its own start as T0", async () => {
    const client = elbv2Client(node2Ref());
    const { targetGroupArn, targetId, port } = node2Ref();
    await client.send(
      new DeregisterTargetsCommand({
        TargetGroupArn: targetGroupArn,
        Targets: [{ Id: targetId, Port: port }],
      }),
    );
    client.destroy();
    // The first run's deregistration, then a pause longer than P before the rerun.
    await sleep((P_SECONDS + 1) * 1000);
    const drained = await drainNode2(P_SECONDS);
    console.log(`rerun on a draining target: ${drained.result.drainSeconds} s`);
    expect(drained.lines.some((line) => line.includes("is already draining"))).toBe(true);
    expect(drained.result.endedBy).toBe("idle");
    expect(drained.result.drainSeconds).toBeGreaterThanOrEqual(P_SECONDS);
    // Ended on the node idle (above), soon after P: each look spawns a shell, slow on a loaded machine.
    expect(drained.result.drainSeconds).toBeLessThanOrEqual(P_SECONDS + 2);
    await restoreNode2();
    await setDelay(SHORT_DELAY_SECONDS);
  }, 120_000);

  /**
   * The same procedure, P the only difference: node-2 idle at its deregistration (no request through
   * the ALB since it was last registered, so the ALB holds no connection to it), the drain, then node-2
   * stopped at once (as the upgrade does) while the e2e load starts; the verdict over the load and the
   * ALB log, once the lab's lag is over.
   */
  async function drainStopAndLoad(propagationSeconds: number) {
    const drained = await drainNode2(propagationSeconds);
    const load = startLoad({ baseUrl: albOf(lab).frontendUrl, seedImages: lab.seedImages });
    await glanceNodeOrThrow(lab.dir, ["stop", "node-2"]);
    await sleep(Math.max(0, drained.startedAt + LAG_MS + 2_000 - Date.now()));
    const report = await load.stop();
    const albLines = readHaproxyLog(albOf(lab).logPath);
    const violations = zeroFailureViolations(report, {
      minRequests: 20,
      minPerKind: 1,
      haproxyLines: albLines,
    });
    const toNode2 = albLines.filter(
      (line) =>
        line.server === "node-2" &&
        line.acceptedAt >= report.startedAt &&
        line.acceptedAt <= report.startedAt + report.durationMs,
    );
    console.log(
      `P = ${propagationSeconds} s against a lag of ${LAG_MS / 1000} s: drain ${drained.result.drainSeconds} s ` +
        `(${drained.result.endedBy}); ${toNode2.length} requests sent to node-2 after it; ` +
        `load: ${loadSummary(report)}; verdict: ${violations.length === 0 ? "pass" : rules(violations).join(", ")}`,
    );
    return { drained, violations, toNode2 };
  }

  it("P = 5 s (above the 4 s lag): the node stopped right after its drain, the verdict passes", async () => {
    const run = await drainStopAndLoad(P_SECONDS).finally(restoreNode2);
    expect(run.drained.result.endedBy).toBe("idle");
    expect(run.toNode2).toEqual([]);
    expect(run.violations).toEqual([]);
  }, 150_000);

  it(
    `(negative control) P = 0.5 s against the 4 s lag: the verdict fails (${NEGATIVE_RUNS} run(s))`,
    async () => {
      const outcomes: string[] = [];
      for (let run = 1; run <= NEGATIVE_RUNS; run++) {
        const { drained, violations, toNode2 } = await drainStopAndLoad(SHORT_P_SECONDS);
        outcomes.push(
          `${rules(violations).includes("failed requests") || rules(violations).includes("abnormal HAProxy line") ? "FAILED" : "passed"} ` +
            `(drain ${drained.result.drainSeconds} s, ${toNode2.length} to node-2)`,
        );
        expect(drained.result.endedBy).toBe("idle");
        expect(drained.result.drainSeconds).toBeLessThan(LAG_MS / 1000);
        expect(toNode2.length).toBeGreaterThan(0);
        expect(rules(violations)).toEqual(expect.arrayContaining(["failed requests"]));
        if (run < NEGATIVE_RUNS) await restoreNode2();
      }
      console.log(`negative control, ${NEGATIVE_RUNS} run(s): ${outcomes.join("; ")}`);
    },
    60_000 + NEGATIVE_RUNS * 60_000,
  );
});
