/**
 * The ALB bake on target health (issue 32, item 4) fails when it should, on the lab ALB
 * (lab/services/alb.ts: moto's ELBv2 API with a data plane that health-checks targets from their
 * group's own settings) through the real AWS SDK: the bake step as the provider runs it
 * (steps/dispatch.ts runStep) and the reason the provider records for its failure
 * (steps/failure.ts failureOf).
 *
 * Each case has a group of its own (checks every 5 s, timeout 2 s, both thresholds 2: the smallest
 * values AWS accepts) with two targets, the baked one and another that keeps serving. The group's
 * deregistration delay is 5 s, so the failed bake's take-out (a drain bounded by 30 s, which waits
 * until the target leaves `draining`) is confirmed within it, or 40 s, which the take-out does not
 * wait out; the lab's propagation lag is 1 s.
 * The bounds come from the group's settings as the preflight reads them (steps/lb/alb/settings.ts)
 * and judges them (steps/lb/alb/timing.ts unhealthyUpToSeconds), not from constants here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { LAB_ALB_REGION } from "../../lab/services/alb";
import { runStep } from "../../steps/dispatch";
import { failureOf } from "../../steps/failure";
import { readTargetGroupSettings } from "../../steps/lb/alb/settings";
import { judgeTargetGroup, unhealthyUpToSeconds, type TargetGroupSettings } from "../../steps/lb/alb/timing";
import type { StepRequest } from "../../steps/protocol";
import type { StepResultByKind } from "../../steps/results";
import { useTestAwsCredentials } from "../support/albLab";
import {
  Backend,
  get,
  LabAlbHarness,
  startBackend,
  startLabAlbHarness,
  targetOf,
  waitState,
} from "../support/labAlbHarness";
import { recordingContext, stepFailure } from "../support/stepHarness";

const LAG_MS = 1000;
const GROUP = {
  intervalSeconds: 5,
  timeoutSeconds: 2,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  deregistrationDelaySeconds: 5,
};
/**
 * Beyond the group's own report time: the bake's poll (250 ms) and DescribeTargetHealth, and the
 * scheduling of a machine whose 2 cores other runs share (load 6-12).
 */
const SLACK_SECONDS = 2.5;

let h: LabAlbHarness;
const backends: Backend[] = [];
let restoreEnv = (): void => undefined;

beforeAll(async () => {
  // The steps reach the lab ALB's ELBv2 API with the SDK's default credentials: any will do.
  restoreEnv = useTestAwsCredentials();
  h = await startLabAlbHarness({ propagationLagMs: LAG_MS });
}, 60_000);

afterAll(async () => {
  await Promise.all(backends.map((b) => b.stop()));
  await h?.stop();
  restoreEnv();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Admitted {
  arn: string;
  url: string;
  node: Backend;
  other: Backend;
  settings: TargetGroupSettings;
}

/** A group of two healthy targets (the node to bake and another), and its settings as the preflight reads them. */
async function admittedPair(
  deregistrationDelaySeconds = GROUP.deregistrationDelaySeconds,
): Promise<Admitted> {
  const node = await startBackend();
  const other = await startBackend();
  backends.push(node, other);
  const { arn, url } = await h.newGroup({ ...GROUP, deregistrationDelaySeconds });
  await h.elbv2.send(
    new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [node, other].map(targetOf) }),
  );
  await Promise.all([waitState(h, arn, node, "healthy"), waitState(h, arn, other, "healthy")]);
  const settings = await readTargetGroupSettings({
    targetGroupArn: arn,
    region: LAB_ALB_REGION,
    endpoint: h.alb.endpoint,
  });
  return { arn, url, node, other, settings };
}

/** The bake step's request for `node`, as components/nodeUpgrade.ts builds it for an ALB stack. */
function bakeRequest(a: Admitted, windowSeconds: number): StepRequest & { kind: "bake" } {
  return {
    kind: "bake",
    lb: {
      type: "alb",
      targetGroupArn: a.arn,
      targetId: a.node.host,
      port: a.node.port,
      region: LAB_ALB_REGION,
      endpoint: h.alb.endpoint,
    },
    windowSeconds,
    errorBudget: 0,
    pollIntervalMs: 250,
  };
}

/** A StepContext that keeps each line with the time it was logged. */
function timedContext() {
  const ctx = recordingContext();
  const times: number[] = [];
  return {
    ...ctx,
    log: (line: string) => {
      times.push(Date.now());
      ctx.log(line);
    },
    /** When the first line for which `pick` holds was logged; throws if none was. */
    at(pick: (line: string) => boolean): number {
      const i = ctx.lines.findIndex(pick);
      if (i < 0) throw new Error(`no such line in:\n${ctx.lines.join("\n")}`);
      return times[i];
    },
  };
}

const stateOf = async (a: Admitted, b: Backend) => (await h.health(a.arn, [b]))[0]?.TargetHealth?.State;

/** Who answers `count` GETs through the group's listener. */
async function servedBy(url: string, count: number): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const res = await get(url, "/");
    const key = res.status === 200 ? (res.servedBy ?? "?") : `HTTP ${res.status} ${res.error ?? ""}`;
    tally[key] = (tally[key] ?? 0) + 1;
  }
  return tally;
}

describe.concurrent("the ALB bake on target health, on the lab ALB", () => {
  it.each([
    {
      how: "its health check answers 503",
      fail: (b: Backend) => {
        b.health = 503;
        return Promise.resolve();
      },
      health: "unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [503])",
      delay: GROUP.deregistrationDelaySeconds,
      out: (host: string) => `${host} is deregistered`,
      state: "unused",
    },
    {
      how: "its server stops (connections refused)",
      fail: (b: Backend) => b.stop(),
      health: "unhealthy (Target.FailedHealthChecks: Health checks failed)",
      delay: GROUP.deregistrationDelaySeconds,
      out: (host: string) => `${host} is deregistered`,
      state: "unused",
    },
    {
      // A delay longer than the take-out's 30 s, as AWS's default (300 s) is (the lab's 30 s ends at
      // the take-out's bound, a race): the take-out ends with the target out of rotation and still
      // draining, and says so.
      how: "its health check answers 503, in a group whose delay (40 s) outlasts the take-out",
      fail: (b: Backend) => {
        b.health = 503;
        return Promise.resolve();
      },
      health: "unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [503])",
      delay: 40,
      out: (host: string) =>
        `${host} is deregistered (still draining after 30 s: the ALB lets its requests in flight finish within the group's deregistration delay)`,
      state: "draining",
    },
  ])(
    "fails when $how during the bake: BakeFailed naming the target and its health, within the group's report time; the target is taken out, the other serves",
    async ({ fail, health, delay, out, state }) => {
      const a = await admittedPair(delay);
      const reportSeconds = unhealthyUpToSeconds(a.settings);
      // A window the preflight accepts, with room for the failure to start late in it.
      const windowSeconds = reportSeconds + 10;
      expect(judgeTargetGroup(a.settings, probeBounds(windowSeconds), []).problems).toEqual([]);
      const request = bakeRequest(a, windowSeconds);
      const ctx = timedContext();
      const started = Date.now();
      const failure = stepFailure(runStep(request, {}, ctx));
      await sleep(1_000);
      await fail(a.node);
      const failedAt = Date.now();
      const error = await failure;
      const { reason, message } = failureOf(request, error, (Date.now() - started) / 1000);
      // When the bake failed, by its own message ("failed after N s" from the window's start) ...
      const windowStart = ctx.at((line) => line.startsWith(`baking ${a.node.host} `));
      const failedAfter = Number(/failed after ([\d.]+) s/.exec(message)?.[1]);
      const detectSeconds = (windowStart + failedAfter * 1000 - failedAt) / 1000;
      // ... which is before its take-out deregistered the target, not after the take-out's wait.
      const deregisteredAt = ctx.at((line) => line.startsWith(`deregistered ${a.node.host}:`));
      expect(windowStart + failedAfter * 1000).toBeLessThanOrEqual(deregisteredAt + 200);
      console.log(
        `bake failed ${detectSeconds.toFixed(1)} s after the node began failing (the group reports within ${reportSeconds} s; window ${windowSeconds} s): ${message}`,
      );

      expect(reason).toBe("BakeFailed");
      expect(message).toMatch(
        new RegExp(`^bake of ${a.node.host.replace(/\./g, "\\.")} failed after [\\d.]+ s: target turned `),
      );
      expect(message).toContain(`target turned ${health}; ${out(a.node.host)}; the chain halts`);
      // Not before the group's checks can have said so, and no later than they must have.
      const { intervalSeconds, unhealthyThreshold } = a.settings.healthCheck;
      expect(detectSeconds).toBeGreaterThanOrEqual((unhealthyThreshold - 1) * intervalSeconds - 0.5);
      expect(detectSeconds).toBeLessThanOrEqual(reportSeconds + SLACK_SECONDS);
      expect(error.leftChanged).toBe(out(a.node.host));
      // The node is out (gone once a 5 s delay was over), the other stays in and serves every request.
      expect(await stateOf(a, a.node)).toBe(state);
      expect(await stateOf(a, a.other)).toBe("healthy");
      expect(await servedBy(a.url, 6)).toEqual({ [`${a.other.host}:${a.other.port}`]: 6 });
      expect(ctx.lines.join("\n")).not.toContain("bake passed");
    },
    90_000,
  );

  it("passes when the node stays healthy for the whole window the preflight accepts (the twin)", async () => {
    const a = await admittedPair();
    const windowSeconds = unhealthyUpToSeconds(a.settings);
    const ctx = recordingContext();
    const started = Date.now();
    const result = (await runStep(bakeRequest(a, windowSeconds), {}, ctx)) as StepResultByKind["bake"];
    const seconds = (Date.now() - started) / 1000;
    console.log(`bake of a healthy node, ${windowSeconds} s window: passed in ${seconds.toFixed(1)} s`);
    expect(result.bakeErrors).toBe(0);
    expect(result.bakeSeconds).toBeGreaterThanOrEqual(windowSeconds);
    // Not a timing property: the bake ends at its window, not at some later bound.
    expect(seconds).toBeLessThan(windowSeconds + 10);
    expect(ctx.lines).toContain(`baking ${a.node.host} for ${windowSeconds} s: it must stay healthy`);
    expect(ctx.lines).toContain(`bake passed: ${a.node.host} stayed healthy`);
    expect(await stateOf(a, a.node)).toBe("healthy");
    expect(a.node.checks).toBeGreaterThan(0);
  }, 60_000);

  // Why the preflight refuses a window shorter than the group's report (steps/lb/alb/timing.ts): the
  // bake cannot fail on what the group has not reported yet, and its "stayed healthy" is then untrue.
  it("the preflight's rule observed: a window shorter than the group's report passes a node failing from its start, and the preflight refuses that window", async () => {
    const a = await admittedPair();
    const reportSeconds = unhealthyUpToSeconds(a.settings);
    const shortWindow = 3;
    a.node.health = 503;
    const ctx = recordingContext();
    await runStep(bakeRequest(a, shortWindow), {}, ctx);
    expect(ctx.lines).toContain(`bake passed: ${a.node.host} stayed healthy`);
    // ... yet the node was failing all along: the group reports it soon after.
    const after = await waitState(h, a.arn, a.node, "unhealthy", (reportSeconds + SLACK_SECONDS) * 1000);
    console.log(
      `a ${shortWindow} s bake passed a failing node; the group reported it unhealthy ${after.toFixed(1)} s later`,
    );
    const refused = judgeTargetGroup(a.settings, probeBounds(shortWindow), []).problems;
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain(
      `bake.windowSeconds = ${shortWindow}, but target group ${a.arn} may take up to ${reportSeconds} s to report a failing target unhealthy`,
    );
    expect(judgeTargetGroup(a.settings, probeBounds(reportSeconds), []).problems).toEqual([]);
  }, 60_000);
});

/** Bounds the lab group meets on everything but the bake window. */
function probeBounds(bakeWindowSeconds: number) {
  return { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120, bakeWindowSeconds };
}
