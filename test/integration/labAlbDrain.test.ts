/**
 * The ALB drain that ends when the work ends (issue 32, item 2), on the lab ALB in front of real
 * Glance nodes: the drain step as the provider runs it (steps/dispatch.ts runStep, with the idle
 * probe the component builds: the lab stack's connectionsCommand, `glance-node connections`).
 *
 * The lab ALB here: deregistration delay 30 s, a propagation lag of 3 s (longer than the lab's default
 * 1 s), and an idle timeout of 2 s, so the ALB holds no
 * pooled connection to a target that had no request for 2 s (on AWS a target may close idle
 * connections itself): then only P keeps the drain from ending while the ALB may still route to it.
 */
import { DeregisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glanceNodeOrThrow, waitNodeHealthy } from "../../lab/glanceNode";
import { LabState, labDown } from "../../lab/lab";
import { isAbnormal, readHaproxyLog } from "../../lab/load/haproxyLog";
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
import { freshLab } from "../support/labFixture";
import { recordingContext } from "../support/stepHarness";

const DELAY_SECONDS = 30;
const LAG_MS = 3_000;
/** P for the positive cases: at least the lab's lag, as the README asks of propagationSeconds. */
const P_SECONDS = 4;
let lab: LabState;
const savedEnv = { ...process.env };

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  lab = await freshLab(2, undefined, {
    alb: { deregistrationDelaySeconds: DELAY_SECONDS, propagationLagMs: LAG_MS, idleTimeoutSeconds: 2 },
  });
}, 240_000);

afterAll(async () => {
  if (lab) await labDown(lab.dir, { purge: true, log: () => undefined });
  process.env = savedEnv;
});

function albOf(state: LabState) {
  const alb = state.alb;
  if (alb === undefined) throw new Error("lab.json has no alb");
  return alb;
}

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
  await albAdmit({ ...node2Ref(), healthTimeoutSeconds: 60 }, recordingContext());
}

/** One GET of the image list every `everyMs` through the ALB, each on a new connection, until `untilMs`. */
async function probeRequests(prefix: string, untilMs: number, everyMs = 100) {
  const answers: Array<{ id: string; status: number }> = [];
  const pending: Array<Promise<void>> = [];
  for (let i = 0; Date.now() < untilMs; i++) {
    const id = `${prefix}-${i}`;
    pending.push(
      fetch(`${albOf(lab).frontendUrl}/v2/images`, {
        headers: { "x-request-id": id, connection: "close", ...LAB_IDENTITY_HEADERS },
      })
        .then(async (res) => {
          await res.arrayBuffer();
          answers.push({ id, status: res.status });
        })
        .catch(() => {
          answers.push({ id, status: 0 });
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  await Promise.all(pending);
  return answers;
}

describe("an ALB drain that ends when the work ends, on the lab ALB (delay 30 s, lag 3 s)", () => {
  it("nothing in flight: ends (idle) within P + 1 s; the admit then waits out draining", async () => {
    // No request for longer than the ALB's idle timeout: it holds no connection to node-2.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const drained = await drainNode2(P_SECONDS);
    console.log(
      `idle drain of node-2: ${drained.result.drainSeconds} s (P ${P_SECONDS} s, delay ${DELAY_SECONDS} s), ` +
        `idle from ${drained.result.idleAtSeconds} s`,
    );
    expect(drained.result.endedBy).toBe("idle");
    expect(drained.result.drainSeconds).toBeGreaterThanOrEqual(P_SECONDS);
    expect(drained.result.drainSeconds).toBeLessThanOrEqual(P_SECONDS + 1);
    const client = elbv2Client(node2Ref());
    expect((await describeTarget(client, node2Ref())).presence).toBe("draining");
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

    const ctx = recordingContext();
    const admitted = await albAdmit({ ...node2Ref(), healthTimeoutSeconds: 60 }, ctx);
    console.log(`admit after it: ${admitted.admitSeconds} s`);
    expect(ctx.lines.some((line) => line.includes("is still draining"))).toBe(true);
    expect((await describeTarget(client, node2Ref())).healthy).toBe(true);
    client.destroy();
  }, 120_000);

  it("a rerun that finds the target already draining takes its own start as T0", async () => {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
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
    await new Promise((resolve) => setTimeout(resolve, (P_SECONDS + 1) * 1000));
    const drained = await drainNode2(P_SECONDS);
    console.log(`rerun on a draining target: ${drained.result.drainSeconds} s`);
    expect(drained.lines.some((line) => line.includes("is already draining"))).toBe(true);
    expect(drained.result.endedBy).toBe("idle");
    expect(drained.result.drainSeconds).toBeGreaterThanOrEqual(P_SECONDS);
    expect(drained.result.drainSeconds).toBeLessThanOrEqual(P_SECONDS + 1);
    await restoreNode2();
  }, 120_000);

  // The same procedure, P the only difference: the node idle at its deregistration, the drain, then
  // node-2 stopped at once (as the upgrade does) while requests keep coming, each on a new connection.
  async function drainStopAndProbe(propagationSeconds: number, prefix: string) {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const drained = await drainNode2(propagationSeconds);
    // Longer than what is left of the lag after the shortest drain.
    const probe = probeRequests(prefix, Date.now() + LAG_MS);
    await glanceNodeOrThrow(lab.dir, ["stop", "node-2"]);
    const answers = await probe;
    const failed = answers.filter((a) => a.status < 200 || a.status >= 500);
    const ofProbe = readHaproxyLog(albOf(lab).logPath).filter(
      (line) => line.requestId?.startsWith(`${prefix}-`) === true,
    );
    const abnormal = ofProbe.filter(isAbnormal);
    // Requests the ALB sent node-2 after the program had called it drained: the upgrade's stop loses them.
    const afterDrain = ofProbe.filter(
      (line) => line.server === "node-2" && line.acceptedAt > drained.endedAt,
    );
    console.log(
      `P = ${propagationSeconds} s against a lag of ${LAG_MS / 1000} s: drain ${drained.result.drainSeconds} s ` +
        `(${drained.result.endedBy}); ${answers.length} requests after it, ${failed.length} failed, ` +
        `${abnormal.length} abnormal ALB log lines (${abnormal.map((l) => `${l.server} ${l.status}`).join(", ")}); ` +
        `${afterDrain.length} sent to node-2 after its drain ended`,
    );
    await restoreNode2();
    return { drained, answers, failed, abnormal, afterDrain };
  }

  it("P = 4 s (above the 3 s lag): the node stopped right after its drain, no request reaches it or fails", async () => {
    const run = await drainStopAndProbe(P_SECONDS, "pos-p4");
    expect(run.drained.result.endedBy).toBe("idle");
    expect(run.answers.length).toBeGreaterThan(10);
    expect(run.afterDrain).toEqual([]);
    expect(run.failed).toEqual([]);
    expect(run.abnormal).toEqual([]);
  }, 150_000);
});
