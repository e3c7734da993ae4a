/**
 * The preflight's rules on an ALB target group's own settings (steps/lb/alb/timing.ts), by case
 * table: each refusal beside its negative control (the same settings one step on the safe side pass).
 */
import { describe, expect, it } from "vitest";
import type { TargetGroup } from "@aws-sdk/client-elastic-load-balancing-v2";
import {
  admitUpToSeconds,
  ADMIT_MARGIN_SECONDS,
  configuredTargetType,
  DRAIN_MARGIN_SECONDS,
  judgeTargetGroup,
  TargetGroupSettings,
  TimingBounds,
  unhealthyUpToSeconds,
} from "../../steps/lb/alb/timing";
import { settingsOf } from "../../steps/lb/alb/settings";
import { LOCAL_ALB_STACK_BAKE_SECONDS } from "../../lab/stack";
import { targetGroupSettings } from "./support/targetGroups";

const ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/glance/0123456789abcdef";

/** AWS's defaults: delay 300 s, interval 30 s, timeout 5 s, healthy 5, unhealthy 2, slow start off. */
const awsDefaults: TargetGroupSettings = targetGroupSettings(ARN);

/** The lab ALB's group: delay 30 s, checks every 5 s, timeout 2 s, both thresholds 2. */
const lab: TargetGroupSettings = {
  ...awsDefaults,
  deregistrationDelaySeconds: 30,
  healthCheck: { ...awsDefaults.healthCheck, intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2 },
};

const INSTANCES = ["i-0123456789abcdef0", "i-0123456789abcdef1"];
const IPS = ["10.0.1.10", "10.0.1.11"];

type Case = {
  name: string;
  settings: TargetGroupSettings;
  bounds: TimingBounds;
  ids?: string[];
  /** Each refusal's distinctive words; [] when it passes. */
  problems: RegExp[];
  drainUpTo: number;
  admitUpTo: number;
};

const cases: Case[] = [
  {
    name: "AWS defaults with prod's old healthTimeoutSeconds 120: the admit cannot cover 5 x 30 s",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 120 },
    problems: [/healthTimeoutSeconds = 120, .* up to 165 s .*raise healthTimeoutSeconds to at least 165/],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "negative control: healthTimeoutSeconds 165 covers exactly 5 x 30 s + 5 s + margin",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 165 },
    problems: [],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "one second short of the admit bound is refused",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 164 },
    problems: [/at least 165/],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "AWS's default delay with drainTimeoutSeconds 300, a drain that waits for draining to end: refused",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 240 },
    problems: [/drainTimeoutSeconds = 300, .*deregistration delay \(300 s\).*at least 305/],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "negative control: drainTimeoutSeconds = delay + margin",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 300 + DRAIN_MARGIN_SECONDS, healthTimeoutSeconds: 240 },
    problems: [],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "a drain that ends on the node's connections is not held to the delay",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 120, healthTimeoutSeconds: 240, propagationSeconds: 5 },
    problems: [],
    drainUpTo: 120,
    // The admit first waits out the rest of the 300 s delay (its own bound), then 165 s of checks;
    // healthTimeoutSeconds bounds only the checks, so 240 is not refused.
    admitUpTo: 300 + 165,
  },
  {
    name: "... but it cannot end before the propagation lag: drainTimeoutSeconds <= propagationSeconds refused",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 5, healthTimeoutSeconds: 240, propagationSeconds: 5 },
    problems: [/drainTimeoutSeconds = 5, .*propagationSeconds.*above 5/],
    drainUpTo: 5,
    admitUpTo: 300 + 165,
  },
  {
    name: "the lab's group: both bounds covered by the defaults (300 s, 120 s)",
    settings: lab,
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    problems: [],
    drainUpTo: 35,
    admitUpTo: 2 * 5 + 2 + ADMIT_MARGIN_SECONDS,
  },
  {
    name: "an ip target group for nodes named by instance id: refused",
    settings: { ...lab, targetType: "ip" },
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    ids: INSTANCES,
    problems: [/target type ip, but the config names the nodes by EC2 instance id/],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "negative control: an ip target group for nodes named by address",
    settings: { ...lab, targetType: "ip" },
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    ids: IPS,
    problems: [],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "an instance target group for nodes named by address: refused",
    settings: lab,
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    ids: IPS,
    problems: [/target type instance, but the config names the nodes by IP address/],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "a lambda target group: refused whatever the nodes",
    settings: { ...lab, targetType: "lambda" },
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
    problems: [/target type lambda: Glance nodes are registered by EC2 instance id or IP address/],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "AWS's default checks with a 60 s bake: the group may take 2 x 30 s + 5 s to report a failing target",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240, bakeWindowSeconds: 60 },
    problems: [
      /bake\.windowSeconds = 60, .*up to 65 s to report a failing target unhealthy \(2 failed checks x 30 s \+ 5 s check timeout\).*raise bake\.windowSeconds to at least 65, or make the checks report sooner \(aws elbv2 modify-target-group .* --health-check-interval-seconds 10 --unhealthy-threshold-count 2 reports within 25 s\)$/,
    ],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "negative control: a bake of exactly 2 x 30 s + 5 s",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240, bakeWindowSeconds: 65 },
    problems: [],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "negative control: the bake off (no window) is not judged",
    settings: awsDefaults,
    bounds: { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240, bakeWindowSeconds: 0 },
    problems: [],
    drainUpTo: 305,
    admitUpTo: 165,
  },
  {
    name: "the lab's group with the old 3 s lab bake: refused, the fix only a longer window (its checks are the fastest the fix names)",
    settings: lab,
    bounds: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120, bakeWindowSeconds: 3 },
    problems: [
      /bake\.windowSeconds = 3, .*up to 12 s .*\(2 failed checks x 5 s \+ 2 s check timeout\).*raise bake\.windowSeconds to at least 12$/,
    ],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "negative control: the lab's group with the local-alb stack's bake (12 s)",
    settings: lab,
    bounds: {
      drainTimeoutSeconds: 300,
      healthTimeoutSeconds: 120,
      bakeWindowSeconds: LOCAL_ALB_STACK_BAKE_SECONDS,
    },
    problems: [],
    drainUpTo: 35,
    admitUpTo: 22,
  },
  {
    name: "every refusal at once",
    settings: { ...awsDefaults, targetType: "ip" },
    bounds: { drainTimeoutSeconds: 60, healthTimeoutSeconds: 60, bakeWindowSeconds: 30 },
    problems: [
      /target type ip/,
      /drainTimeoutSeconds = 60/,
      /healthTimeoutSeconds = 60/,
      /bake\.windowSeconds = 30, .*at least 65, or make the checks report sooner/,
    ],
    drainUpTo: 305,
    admitUpTo: 165,
  },
];

describe("judgeTargetGroup: the target group's settings against the stack's bounds", () => {
  it.each(cases)("$name", (c) => {
    const verdict = judgeTargetGroup(c.settings, c.bounds, c.ids ?? INSTANCES);
    expect(verdict.problems).toHaveLength(c.problems.length);
    c.problems.forEach((pattern, i) => expect(verdict.problems[i]).toMatch(pattern));
    // Every refusal names the target group and says what to do.
    for (const problem of verdict.problems) {
      expect(problem).toContain(ARN);
      expect(problem).toMatch(/: (raise|remove|set|use|point) /);
    }
    expect(verdict.drain.upToSeconds).toBe(c.drainUpTo);
    expect(verdict.admit.upToSeconds).toBe(c.admitUpTo);
  });

  it("says what drainTimeoutSeconds must cover, with and without a drain that ends on the node's connections", () => {
    const waits = judgeTargetGroup(
      awsDefaults,
      { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240 },
      INSTANCES,
    );
    expect(waits.notes.join("\n")).toMatch(/each drain waits the group's whole deregistration delay \(300 s/);
    expect(waits.drain.text).toBe(
      "305 s: the deregistration delay (300 s; the target shows draining until it elapses) + 5 s",
    );
    const early = judgeTargetGroup(
      awsDefaults,
      { drainTimeoutSeconds: 120, healthTimeoutSeconds: 240, propagationSeconds: 5 },
      INSTANCES,
    );
    expect(early.notes[0]).toMatch(
      /drainTimeoutSeconds \(120\) must cover the longest request you expect in flight plus 5 s \(propagationSeconds\), not the deregistration delay/,
    );
    // Below the delay, the drain that cannot end early halts: said, not refused.
    expect(early.notes[1]).toMatch(/waits for the delay \(300 s\) and halts at drainTimeoutSeconds \(120\)/);
    expect(early.drain.text).toBe(
      "5 s + what is in flight when it leaves rotation, at most 120 s (drainTimeoutSeconds)",
    );
  });

  it("after an early drain, the expected admit says it first waits out the delay", () => {
    const verdict = judgeTargetGroup(
      lab,
      { drainTimeoutSeconds: 60, healthTimeoutSeconds: 22, propagationSeconds: 2 },
      INSTANCES,
    );
    expect(verdict.problems).toEqual([]);
    expect(verdict.admit.text).toMatch(
      /^up to 52 s: first the rest of the 30 s deregistration delay .*then up to 22 s/,
    );
  });

  it("shows the admit's arithmetic and slow start; warns of a delay of 0", () => {
    const verdict = judgeTargetGroup(
      { ...lab, slowStartSeconds: 60, deregistrationDelaySeconds: 0 },
      { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
      INSTANCES,
    );
    expect(verdict.admit.text).toBe(
      "up to 22 s (2 passing checks x 5 s + 2 s check timeout + 10 s margin); then slow start ramps its share of requests over 60 s",
    );
    expect(verdict.notes.join("\n")).toMatch(/slow start 60 s: .*bake.windowSeconds >= 60/);
    expect(verdict.notes.join("\n")).toMatch(/WARNING: .*deregistration delay of 0 s/);
    expect(verdict.settings).toBe(
      "deregistration delay 0 s; health checks HTTP /healthcheck on traffic-port every 5 s (timeout 2 s, healthy threshold 2, unhealthy threshold 2, matcher 200); slow start 60 s; target type instance",
    );
    // Negative control: neither note without slow start or with a delay.
    const plain = judgeTargetGroup(lab, { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 }, INSTANCES);
    expect(plain.notes.join("\n")).not.toMatch(/slow start|WARNING/);
  });

  it("says what the bake watches and how soon the group reports a failing target, when the bake is on", () => {
    const on = judgeTargetGroup(
      awsDefaults,
      { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240, bakeWindowSeconds: 90 },
      INSTANCES,
    );
    expect(on.notes.join("\n")).toContain(
      "the bake watches each admitted target's health as the group reports it: a node failing from its admission is reported unhealthy within 65 s (2 failed checks x 30 s + 5 s check timeout), inside bake.windowSeconds (90)",
    );
    // Negative control: nothing about the bake when it is off.
    const off = judgeTargetGroup(
      awsDefaults,
      { drainTimeoutSeconds: 330, healthTimeoutSeconds: 240 },
      INSTANCES,
    );
    expect(off.notes.join("\n")).not.toMatch(/bake watches/);
  });

  it("unhealthyUpToSeconds grows with every setting it depends on, not with the healthy threshold", () => {
    const base = unhealthyUpToSeconds(lab);
    const h = lab.healthCheck;
    expect(base).toBe(12);
    expect(unhealthyUpToSeconds({ ...lab, healthCheck: { ...h, intervalSeconds: 6 } })).toBe(base + 2);
    expect(unhealthyUpToSeconds({ ...lab, healthCheck: { ...h, unhealthyThreshold: 3 } })).toBe(base + 5);
    expect(unhealthyUpToSeconds({ ...lab, healthCheck: { ...h, timeoutSeconds: 3 } })).toBe(base + 1);
    expect(unhealthyUpToSeconds({ ...lab, healthCheck: { ...h, healthyThreshold: 5 } })).toBe(base);
  });

  it("admitUpToSeconds grows with every setting it depends on", () => {
    const base = admitUpToSeconds(lab);
    const h = lab.healthCheck;
    expect(admitUpToSeconds({ ...lab, healthCheck: { ...h, intervalSeconds: 6 } })).toBe(base + 2);
    expect(admitUpToSeconds({ ...lab, healthCheck: { ...h, healthyThreshold: 3 } })).toBe(base + 5);
    expect(admitUpToSeconds({ ...lab, healthCheck: { ...h, timeoutSeconds: 3 } })).toBe(base + 1);
  });
});

describe("configuredTargetType", () => {
  it.each([
    [INSTANCES, "instance"],
    [IPS, "ip"],
    [[INSTANCES[0], IPS[0]], undefined],
    [[], undefined],
  ])("%j -> %s", (ids, type) => {
    expect(configuredTargetType(ids)).toBe(type);
  });
});

describe("settingsOf: DescribeTargetGroups and DescribeTargetGroupAttributes' answers", () => {
  const group: TargetGroup = {
    TargetGroupArn: ARN,
    TargetType: "ip",
    HealthCheckProtocol: "HTTP",
    HealthCheckPath: "/healthcheck",
    HealthCheckPort: "9292",
    HealthCheckIntervalSeconds: 5,
    HealthCheckTimeoutSeconds: 2,
    HealthyThresholdCount: 2,
    UnhealthyThresholdCount: 3,
    Matcher: { HttpCode: "200-299" },
  };

  it("reads every field, and AWS's defaults for an attribute the group does not list", () => {
    expect(
      settingsOf(group, [
        { Key: "deregistration_delay.timeout_seconds", Value: "30" },
        { Key: "slow_start.duration_seconds", Value: "45" },
      ]),
    ).toEqual({
      targetGroupArn: ARN,
      targetType: "ip",
      deregistrationDelaySeconds: 30,
      slowStartSeconds: 45,
      healthCheck: {
        protocol: "HTTP",
        path: "/healthcheck",
        port: "9292",
        matcher: "200-299",
        intervalSeconds: 5,
        timeoutSeconds: 2,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
      },
    });
    const bare = settingsOf(group, []);
    expect([bare.deregistrationDelaySeconds, bare.slowStartSeconds]).toEqual([300, 0]);
  });

  it("refuses an answer without the health-check numbers or with an unreadable attribute", () => {
    expect(() => settingsOf({ ...group, HealthyThresholdCount: undefined }, [])).toThrow(
      /no HealthyThresholdCount/,
    );
    expect(() => settingsOf(group, [{ Key: "deregistration_delay.timeout_seconds", Value: "soon" }])).toThrow(
      /reads "soon"/,
    );
  });
});
