/**
 * The ALB bake with CloudWatch alarms, through the real AWS SDK v3 against moto server (run
 * scripts/setup-moto.sh first). moto 5.2.5 serves PutMetricAlarm, SetAlarmState and DescribeAlarms
 * (AlarmNames) on the same endpoint as ELBv2; its new alarms start OK (AWS: INSUFFICIENT_DATA), and
 * an alarm stays in the state SetAlarmState gave it, since moto evaluates no metrics.
 */
import { runPreflight } from "../../steps/preflight";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { bakeNode } from "../../steps/bake";
import type { BakeRequest, PreflightRequest } from "../../steps/protocol";
import { MOTO_REGION as region, motoAlbForThisFile } from "../support/motoAlb";
import { recordingContext, stepFailure } from "../support/stepHarness";

const alb = motoAlbForThisFile();
let cloudwatch: CloudWatchClient;

beforeAll(() => {
  cloudwatch = new CloudWatchClient({ region, endpoint: alb.endpoint });
});

afterAll(() => {
  cloudwatch?.destroy();
});

/** A fresh target group behind the ALB with two running instances registered; returns the group and the first. */
async function newTargetGroup(): Promise<{ targetGroupArn: string; targetId: string; other: string }> {
  const [targetId, other] = await alb.runInstances(2);
  return { targetGroupArn: await alb.newTargetGroup([targetId, other]), targetId, other };
}

async function putAlarm(name: string): Promise<void> {
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: "AWS/ApplicationELB",
      MetricName: "HTTPCode_Target_5XX_Count",
      Statistic: "Sum",
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    }),
  );
}

async function setAlarm(name: string, state: "OK" | "ALARM" | "INSUFFICIENT_DATA", reason: string) {
  await cloudwatch.send(
    new SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: reason }),
  );
}

function bakeRequest(
  group: { targetGroupArn: string; targetId: string },
  windowSeconds: number,
  alarmNames: string[],
): BakeRequest {
  return {
    lb: {
      type: "alb",
      targetGroupArn: group.targetGroupArn,
      targetId: group.targetId,
      port: 9292,
      region,
      endpoint: alb.endpoint,
    },
    windowSeconds,
    errorBudget: 0,
    alarmNames,
    pollIntervalMs: 250,
  };
}

describe("bakeNode with CloudWatch alarms", () => {
  it("passes when the alarms stay OK, counting INSUFFICIENT_DATA as OK", async () => {
    const group = await newTargetGroup();
    await putAlarm("glance-api-5xx-pass");
    await putAlarm("glance-api-latency-pass");
    await setAlarm("glance-api-latency-pass", "INSUFFICIENT_DATA", "no datapoints yet");

    const ctx = recordingContext();
    const started = Date.now();
    const result = await bakeNode(
      bakeRequest(group, 3, ["glance-api-5xx-pass", "glance-api-latency-pass"]),
      {},
      ctx,
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`bake with 2 alarms, 3 s window: ${seconds.toFixed(2)} s wall`);

    expect(result.errors).toBe(0);
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(seconds).toBeLessThan(6);
    const log = ctx.lines.join("\n");
    expect(log).toContain(
      "watching CloudWatch alarms: glance-api-5xx-pass OK, glance-api-latency-pass INSUFFICIENT_DATA (counted as OK)",
    );
    expect(log).toMatch(/bake passed: .* stayed healthy; no alarm in ALARM/);
    expect(await alb.targetStates(group.targetGroupArn)).toEqual({
      [group.targetId]: "healthy",
      [group.other]: "healthy",
    });
  });

  it("fails within the window when an alarm turns ALARM, names it with its reason, and deregisters the target", async () => {
    const group = await newTargetGroup();
    await putAlarm("glance-api-5xx-trip");
    await putAlarm("glance-api-latency-trip");

    const ctx = recordingContext();
    const started = Date.now();
    const bakeFailure = stepFailure(
      bakeNode(bakeRequest(group, 20, ["glance-api-5xx-trip", "glance-api-latency-trip"]), {}, ctx),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await setAlarm("glance-api-5xx-trip", "ALARM", "Threshold Crossed: 1 datapoint [7.0] >= 1.0");
    const tripped = Date.now();
    const error = await bakeFailure;
    const detectSeconds = (Date.now() - tripped) / 1000;
    const totalSeconds = (Date.now() - started) / 1000;
    console.log(
      `alarm tripped: bake failed ${detectSeconds.toFixed(2)} s after SetAlarmState (${totalSeconds.toFixed(2)} s into a 20 s window)`,
    );

    console.log(error.message);
    expect(detectSeconds).toBeLessThan(3);
    expect(totalSeconds).toBeLessThan(20);
    expect(error.message).toContain(`bake of ${group.targetId} failed after`);
    expect(error.message).toContain('CloudWatch alarm "glance-api-5xx-trip" is in ALARM');
    expect(error.message).toContain("Threshold Crossed: 1 datapoint [7.0] >= 1.0");
    expect(error.message).toContain(`${group.targetId} is deregistered`);
    expect(error.message).not.toContain("glance-api-latency-trip");
    expect(error.leftChanged).toBe(`${group.targetId} is deregistered`);
    expect(ctx.lines.join("\n")).toMatch(/CloudWatch alarm glance-api-5xx-trip: OK -> ALARM/);
    expect(await alb.targetStates(group.targetGroupArn)).toEqual({ [group.other]: "healthy" });
  });

  it("fails at the start when an alarm is already in ALARM, taking the target out", async () => {
    const group = await newTargetGroup();
    await putAlarm("glance-api-5xx-already");
    await setAlarm("glance-api-5xx-already", "ALARM", "Threshold Crossed: already firing");

    const started = Date.now();
    const error = await stepFailure(
      bakeNode(bakeRequest(group, 20, ["glance-api-5xx-already"]), {}, recordingContext()),
    );
    expect((Date.now() - started) / 1000).toBeLessThan(3);
    expect(error.message).toContain('CloudWatch alarm "glance-api-5xx-already" is in ALARM');
    expect(error.message).toContain("already firing");
    expect(await alb.targetStates(group.targetGroupArn)).toEqual({ [group.other]: "healthy" });
  });

  // Issue 30, finding 7: a fleet-wide alarm during an incident must not take the last healthy
  // target out. Before the fix the take-out used minHealthy 0 and deregistered it.
  it("an alarm with no other target healthy halts with the target left registered (minHealthy 1)", async () => {
    const group = await newTargetGroup();
    await alb.ec2("StopInstances", { "InstanceId.1": group.other });
    await putAlarm("glance-api-5xx-incident");
    await setAlarm("glance-api-5xx-incident", "ALARM", "Threshold Crossed: fleet-wide");

    const error = await stepFailure(
      bakeNode(
        { ...bakeRequest(group, 20, ["glance-api-5xx-incident"]), minHealthy: 1 },
        {},
        recordingContext(),
      ),
    );
    expect(error.message).toContain('CloudWatch alarm "glance-api-5xx-incident" is in ALARM');
    expect(error.message).toContain(
      `${group.targetId} stays IN rotation: taking it out would leave 0 other healthy target(s) (none) and minHealthy is 1`,
    );
    expect(error.leftChanged).toBeUndefined();
    expect(await alb.targetStates(group.targetGroupArn)).toEqual({
      [group.targetId]: "healthy",
      [group.other]: "unused",
    });
  });

  it("fails clearly at the start on an unknown alarm name, leaving the target registered", async () => {
    const group = await newTargetGroup();
    await putAlarm("glance-api-5xx-known");

    const ctx = recordingContext();
    const started = Date.now();
    const error = await stepFailure(
      bakeNode(bakeRequest(group, 20, ["glance-api-5xx-known", "glance-api-5XX-typo"]), {}, ctx),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`unknown alarm name: bake refused after ${seconds.toFixed(2)} s: ${error.message}`);

    expect(seconds).toBeLessThan(3);
    expect(error.message).toContain(`bake of ${group.targetId} did not start`);
    expect(error.message).toContain(`CloudWatch has no alarm named "glance-api-5XX-typo" in ${region}`);
    expect(error.message).not.toContain('"glance-api-5xx-known"');
    expect(error.message).toContain("fix bake.alarmNames");
    expect(error.message).toContain(`${group.targetId} stays admitted (the bake changed nothing)`);
    expect(error.leftChanged).toBeUndefined();
    expect(ctx.lines.some((line) => line.startsWith("baking"))).toBe(false);
    expect(await alb.targetStates(group.targetGroupArn)).toEqual({
      [group.targetId]: "healthy",
      [group.other]: "healthy",
    });
  });

  it("with HAProxy, reads the alarms in the SDK's region and checks the names before touching HAProxy", async () => {
    // An HAProxy load balancer has no region or endpoint in config: the SDK's own settings apply.
    process.env.AWS_REGION = region;
    process.env.AWS_ENDPOINT_URL_CLOUDWATCH = alb.endpoint;
    try {
      await putAlarm("glance-api-5xx-haproxy");
      const request: BakeRequest = {
        // No HAProxy listens here: reaching it would fail with a connection error instead.
        lb: { type: "haproxy", runtimeApis: ["127.0.0.1:1"], backend: "glance_api", server: "node-2" },
        windowSeconds: 20,
        errorBudget: 0,
        alarmNames: ["glance-api-5xx-haproxy", "glance-api-missing"],
      };
      const error = await stepFailure(bakeNode(request, {}, recordingContext()));
      expect(error.message).toContain("bake of node-2 did not start");
      expect(error.message).toContain(`CloudWatch has no alarm named "glance-api-missing" in ${region}`);
      expect(error.message).toContain("node-2 stays admitted");
    } finally {
      delete process.env.AWS_REGION;
      delete process.env.AWS_ENDPOINT_URL_CLOUDWATCH;
    }
  });

  it("a bake without alarmNames never calls CloudWatch", async () => {
    const group = await newTargetGroup();
    const ctx = recordingContext();
    await bakeNode(bakeRequest(group, 1, []), {}, ctx);
    expect(ctx.lines.join("\n")).not.toContain("CloudWatch");
    expect(ctx.lines.join("\n")).toMatch(/bake passed: .* stayed healthy$/m);
  });
});

describe("the preflight checks the bake's CloudWatch alarms before anything changes", () => {
  const preflightWith = (names: string[]): PreflightRequest => ({
    db: { host: "127.0.0.1", port: 1, user: "glance", database: "glance" },
    target: { release: "2024.1", version: "28.2.0" },
    rollout: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    lb: {
      type: "alb",
      targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/0",
      expected: [],
      region,
      endpoint: alb.endpoint,
    },
    nodes: [],
    alarms: { names, region, endpoint: alb.endpoint },
  });
  const alarmProblem = async (names: string[]) => {
    const error = await stepFailure(runPreflight(preflightWith(names), {}, recordingContext()));
    return error.message.split("\n").find((line) => line.includes("bake alarms:"));
  };

  it("reports an unknown alarm name and an alarm already in ALARM; passes the alarms check when they are OK", async () => {
    await putAlarm("glance-api-5xx-preflight");
    expect(await alarmProblem(["glance-api-5xx-preflight", "glance-api-nope"])).toContain(
      'CloudWatch has no alarm named "glance-api-nope"',
    );
    expect(await alarmProblem(["glance-api-5xx-preflight"])).toBeUndefined();
    await setAlarm("glance-api-5xx-preflight", "ALARM", "5xx above threshold");
    expect(await alarmProblem(["glance-api-5xx-preflight"])).toContain(
      "CloudWatch alarm glance-api-5xx-preflight is in ALARM (5xx above threshold)",
    );
  });
});
