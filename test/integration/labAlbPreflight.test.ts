/**
 * The preflight reads the target group (issue 32, item 3) through the AWS SDK, against moto (AWS's
 * defaults, as a new target group gets them) and against the lab ALB, whose data plane honours the
 * settings in real seconds: there the times the rules expect are checked against real admits and
 * drains, and each refusal's premise is shown to hold (an admit or drain given less than the rule
 * asks for really fails), beside its negative control.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { LAB_ALB_REGION } from "../../lab/services/alb";
import { runPreflight } from "../../steps/preflight";
import { readLoadBalancerSettings } from "../../steps/lbSettings";
import { albAdmit, albDrain } from "../../steps/lb/alb/membership";
import type { LbFleet, PreflightRequest } from "../../steps/protocol";
import { Backend, LabAlbHarness, startBackend, startLabAlbHarness } from "../support/labAlbHarness";
import { MOTO_REGION, motoAlbForThisFile } from "../support/motoAlb";
import { recordingContext, stepFailure } from "../support/stepHarness";

const moto = motoAlbForThisFile();

const bounds = (drainTimeoutSeconds: number, healthTimeoutSeconds: number) => ({
  drainTimeoutSeconds,
  healthTimeoutSeconds,
});

describe("against moto: a target group with AWS's defaults", () => {
  const fleet = (targetGroupArn: string, expected: string[]): LbFleet => ({
    type: "alb",
    targetGroupArn,
    expected,
    region: MOTO_REGION,
    endpoint: moto.endpoint,
  });

  it("reads delay 300 s, checks every 30 s with threshold 5 and timeout 5 s: 120 s cannot cover an admit, 165 s can", async () => {
    const ids = await moto.runInstances(2);
    const arn = await moto.newTargetGroup(ids);
    const ctx = recordingContext();
    const reading = await readLoadBalancerSettings(fleet(arn, ids), bounds(330, 120), ctx);
    expect(reading?.settings).toBe(
      "deregistration delay 300 s; health checks HTTP /healthcheck on traffic-port every 30 s (timeout 5 s, " +
        "healthy threshold 5, unhealthy threshold 2, matcher 200); slow start off; target type instance",
    );
    expect(reading?.problems).toEqual([expect.stringMatching(/healthTimeoutSeconds = 120, .*at least 165/)]);
    expect((await readLoadBalancerSettings(fleet(arn, ids), bounds(330, 165), ctx))?.problems).toEqual([]);
    // Prod's old drainTimeoutSeconds 300 against the default delay: refused, 305 passes.
    expect((await readLoadBalancerSettings(fleet(arn, ids), bounds(300, 165), ctx))?.problems).toEqual([
      expect.stringMatching(/drainTimeoutSeconds = 300, .*at least 305/),
    ]);
  });

  it("reads the settings as modified, and a target type the config contradicts", async () => {
    const ids = await moto.runInstances(1);
    const arn = await moto.newTargetGroup(ids);
    await moto.elbv2.send(
      new ModifyTargetGroupCommand({
        TargetGroupArn: arn,
        HealthCheckIntervalSeconds: 10,
        HealthyThresholdCount: 3,
        HealthCheckPath: "/healthcheck",
      }),
    );
    await moto.elbv2.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: arn,
        Attributes: [
          { Key: "deregistration_delay.timeout_seconds", Value: "60" },
          { Key: "slow_start.duration_seconds", Value: "30" },
        ],
      }),
    );
    const ctx = recordingContext();
    const reading = await readLoadBalancerSettings(fleet(arn, ids), bounds(120, 60), ctx);
    expect(reading?.settings).toMatch(
      /^deregistration delay 60 s; .* every 10 s .*healthy threshold 3.*slow start 30 s/,
    );
    expect(reading?.admit.upToSeconds).toBe(3 * 10 + 5 + 10);
    expect(reading?.problems).toEqual([]);
    // The same group for nodes given by address: an instance target group refuses them.
    expect(
      (await readLoadBalancerSettings(fleet(arn, ["10.0.1.10"]), bounds(120, 60), ctx))?.problems,
    ).toEqual([expect.stringMatching(/target type instance, but the config names the nodes by IP address/)]);
  });

  it("the preflight refuses with the reading's problems, naming them, and passes that check once they are fixed", async () => {
    const ids = await moto.runInstances(1);
    const arn = await moto.newTargetGroup(ids);
    const request = (rollout: PreflightRequest["rollout"]): PreflightRequest => ({
      // No database answers here: the preflight lists that too; only the load balancer's lines matter.
      db: { host: "127.0.0.1", port: 1, user: "glance", database: "glance" },
      target: { release: "2024.1", version: "28.2.0" },
      rollout,
      lb: fleet(arn, ids),
      nodes: [],
    });
    const lbLines = async (rollout: PreflightRequest["rollout"]) => {
      const error = await stepFailure(runPreflight(request(rollout), {}, recordingContext()));
      return error.message.split("\n").filter((line) => line.includes("load balancer settings:"));
    };
    expect(await lbLines(bounds(300, 120))).toEqual([
      expect.stringMatching(/^ {2}- load balancer settings: loadBalancer\.drainTimeoutSeconds = 300, /),
      expect.stringMatching(/^ {2}- load balancer settings: loadBalancer\.healthTimeoutSeconds = 120, /),
    ]);
    expect(await lbLines(bounds(305, 165))).toEqual([]);
    // The bake window, which the ALB bake needs at least as long as the group's report of a failing target.
    expect(await lbLines({ ...bounds(305, 165), bakeWindowSeconds: 60 })).toEqual([
      expect.stringMatching(/^ {2}- load balancer settings: bake\.windowSeconds = 60, .*at least 65/),
    ]);
    expect(await lbLines({ ...bounds(305, 165), bakeWindowSeconds: 65 })).toEqual([]);
    // A target group that does not exist: said under the same heading.
    const missing = await stepFailure(
      runPreflight(
        { ...request(bounds(305, 165)), lb: fleet(`${arn.slice(0, -4)}ffff`, ids) },
        {},
        recordingContext(),
      ),
    );
    expect(missing.message).toMatch(/load balancer settings: DescribeTargetGroups/);
  });
});

describe("against the lab ALB: the expected times hold, and less than the rules ask for fails", () => {
  let h: LabAlbHarness;
  const backends: Backend[] = [];

  beforeAll(async () => {
    // Test credentials are in the environment (motoAlbForThisFile sets them, and restores it after).
    h = await startLabAlbHarness({ propagationLagMs: 500 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.stop()));
    await h?.stop();
  });

  const backend = async (): Promise<Backend> => {
    const b = await startBackend();
    backends.push(b);
    return b;
  };
  const labFleet = (arn: string, expected: string[]): LbFleet => ({
    type: "alb",
    targetGroupArn: arn,
    expected,
    region: LAB_ALB_REGION,
    endpoint: h.alb.endpoint,
  });
  const ref = (arn: string, b: Backend) => ({
    targetGroupArn: arn,
    targetId: b.host,
    port: b.port,
    region: LAB_ALB_REGION,
    endpoint: h.alb.endpoint,
  });

  it("an admit takes no longer than the rule expects (checks every 5 s, threshold 2); one given less than the checks need fails", async () => {
    const { arn } = await h.newGroup({
      deregistrationDelaySeconds: 5,
      intervalSeconds: 5,
      healthyThreshold: 2,
    });
    const [a, b] = [await backend(), await backend()];
    const reading = await readLoadBalancerSettings(
      labFleet(arn, [a.host, b.host]),
      bounds(300, 120),
      recordingContext(),
    );
    expect(reading?.settings).toMatch(
      /^deregistration delay 5 s; .*every 5 s \(timeout 2 s, healthy threshold 2/,
    );
    expect(reading?.admit.upToSeconds).toBe(22);
    expect(reading?.problems).toEqual([]);

    const admitted = await albAdmit(
      { ...ref(arn, a), healthTimeoutSeconds: reading?.admit.upToSeconds ?? 0 },
      recordingContext(),
    );
    console.log(`lab ALB admit: ${admitted.admitSeconds} s (expected up to ${reading?.admit.upToSeconds} s)`);
    expect(admitted.admitSeconds).toBeLessThanOrEqual(reading?.admit.upToSeconds ?? 0);
    // 2 passing checks 5 s apart: more than one interval, whatever the phase.
    expect(admitted.admitSeconds).toBeGreaterThan(4);

    // The refusal's premise: 3 s is less than the 2 checks x 5 s need, and the admit really fails.
    const short = await readLoadBalancerSettings(
      labFleet(arn, [a.host, b.host]),
      bounds(300, 3),
      recordingContext(),
    );
    expect(short?.problems).toEqual([expect.stringMatching(/healthTimeoutSeconds = 3, .*at least 22/)]);
    const failed = await stepFailure(
      albAdmit({ ...ref(arn, b), healthTimeoutSeconds: 3 }, recordingContext()),
    );
    expect(failed.message).toMatch(/admit of .* failed: healthy not confirmed/);
  }, 90_000);

  it("a drain that waits for draining to end takes the delay; one given less than delay + margin fails", async () => {
    const { arn } = await h.newGroup({
      deregistrationDelaySeconds: 4,
      intervalSeconds: 5,
      healthyThreshold: 2,
    });
    const [a, b, c] = [await backend(), await backend(), await backend()];
    const ids = [a, b, c].map((x) => x.host);
    await Promise.all(
      [a, b, c].map((x) => albAdmit({ ...ref(arn, x), healthTimeoutSeconds: 30 }, recordingContext())),
    );
    const reading = await readLoadBalancerSettings(labFleet(arn, ids), bounds(9, 30), recordingContext());
    expect(reading?.drain.upToSeconds).toBe(4 + 5);
    expect(reading?.problems).toEqual([]);
    const drained = await albDrain(
      { ...ref(arn, a), minHealthy: 1, drainTimeoutSeconds: 9 },
      recordingContext(),
    );
    console.log(
      `lab ALB drain: ${drained.drainSeconds} s (delay 4 s, expected up to ${reading?.drain.upToSeconds} s)`,
    );
    // It waits the delay (AWS shows draining until it elapses), with the drain's poll on top.
    expect(drained.drainSeconds).toBeGreaterThanOrEqual(3.5);
    expect(drained.drainSeconds).toBeLessThanOrEqual(reading?.drain.upToSeconds ?? 0);

    // The refusal's premise: 2 s is less than the delay, and the drain really times out.
    const short = await readLoadBalancerSettings(labFleet(arn, ids), bounds(2, 30), recordingContext());
    expect(short?.problems).toEqual([expect.stringMatching(/drainTimeoutSeconds = 2, .*at least 9/)]);
    const failed = await stepFailure(
      albDrain({ ...ref(arn, b), minHealthy: 1, drainTimeoutSeconds: 2 }, recordingContext()),
    );
    expect(failed.message).toMatch(/drain of .* not confirmed/);
  }, 90_000);

  it("an ip target group refuses nodes named by instance id; the same group passes nodes named by address", async () => {
    const { arn } = await h.newGroup();
    const a = await backend();
    const asInstances = await readLoadBalancerSettings(
      labFleet(arn, ["i-0123456789abcdef0"]),
      bounds(300, 120),
      recordingContext(),
    );
    expect(asInstances?.problems).toEqual([
      expect.stringMatching(/target type ip, but the config names the nodes by EC2 instance id/),
    ]);
    const asAddresses = await readLoadBalancerSettings(
      labFleet(arn, [a.host]),
      bounds(300, 120),
      recordingContext(),
    );
    expect(asAddresses?.problems).toEqual([]);
  });
});
