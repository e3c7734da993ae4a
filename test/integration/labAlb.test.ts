/**
 * The lab ALB (lab/services/alb.ts, albDataPlane.ts) against the AWS text, one test per behaviour,
 * through the AWS SDK (its ELBv2 API) and real HTTP (its listeners, and backends that count what
 * reaches them): never through the data plane's internal state. The quotes are from the Application
 * Load Balancer guide ("Target groups", "Health checks for your target groups", "Deregistration
 * delay", "Slow start mode") and the ELBv2 API reference.
 *
 * Times are real seconds from the target group's own settings (interval 5 s, timeout 2 s, both
 * thresholds 2, the smallest values AWS accepts for a quick test) and the lab's propagation lag (1 s).
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  TargetHealthDescription,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { isAbnormal, readHaproxyLog } from "../../lab/load/haproxyLog";
import { FAILURE_TYPES, LoadReport, RequestKind } from "../../lab/load/loadReport";
import { zeroFailureViolations } from "../../lab/load/verdict";
import {
  Backend,
  get,
  LabAlbHarness,
  loggedLines,
  startBackend,
  startLabAlbHarness,
  targetOf,
  waitState,
} from "../support/labAlbHarness";

const LAG_MS = 1000;
let h: LabAlbHarness;
const backends: Backend[] = [];

beforeAll(async () => {
  h = await startLabAlbHarness({ propagationLagMs: LAG_MS });
}, 60_000);
afterAll(async () => {
  await Promise.all(backends.map((b) => b.stop()));
  await h?.stop();
});

async function backend(healthPath?: string, sameHostAs?: Backend): Promise<Backend> {
  const b = await startBackend(healthPath, sameHostAs);
  backends.push(b);
  return b;
}

async function register(arn: string, ...targets: Backend[]): Promise<void> {
  await h.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targets.map(targetOf) }));
}

async function deregister(arn: string, ...targets: Backend[]): Promise<void> {
  await h.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets.map(targetOf) }));
}

const stateOf = (d: TargetHealthDescription | undefined) => ({
  State: d?.TargetHealth?.State,
  Reason: d?.TargetHealth?.Reason,
  Description: d?.TargetHealth?.Description,
});

/** `count` GETs one after another; who served each. */
async function servedBy(url: string, count: number): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const res = await get(url, "/");
    expect(res.status).toBe(200);
    tally[res.servedBy ?? "?"] = (tally[res.servedBy ?? "?"] ?? 0) + 1;
  }
  return tally;
}

const nameOf = (b: Backend) => `${b.host}:${b.port}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("lab ALB: health checks", () => {
  // "After you register a target, it must pass one health check to be considered healthy" ... the
  // state is `initial` ("the load balancer is in the process of registering the target or
  // performing the initial health checks on the target") with Elb.RegistrationInProgress, then
  // Elb.InitialHealthChecking; HealthyThresholdCount consecutive successes make it healthy.
  it("a new target is initial until healthy-threshold checks pass, and gets requests only once healthy", async () => {
    const a = await backend();
    const b = await backend();
    const { arn, url } = await h.newGroup();
    await register(arn, a);
    expect(stateOf((await h.health(arn, [a]))[0])).toEqual({
      State: "initial",
      Reason: "Elb.RegistrationInProgress",
      Description: "Target registration is in progress",
    });
    const toHealthy = await waitState(h, arn, a, "healthy");
    // First check after the lag, the second one interval later: healthy threshold 2.
    console.log(`initial -> healthy in ${toHealthy.toFixed(1)} s (lag 1 s + interval 5 s)`);
    expect(toHealthy).toBeGreaterThan(5.5);
    expect(toHealthy).toBeLessThan(9);

    await register(arn, b);
    await sleep(LAG_MS + 300);
    expect(stateOf((await h.health(arn, [b]))[0])).toEqual({
      State: "initial",
      Reason: "Elb.InitialHealthChecking",
      Description: "Initial health checks in progress",
    });
    expect(await servedBy(url, 10)).toEqual({ [nameOf(a)]: 10 });
    await waitState(h, arn, b, "healthy");
    expect(await servedBy(url, 10)).toEqual({ [nameOf(a)]: 5, [nameOf(b)]: 5 });
  }, 30_000);

  // Reason codes: Target.ResponseCodeMismatch ("Health checks failed with these codes: [code]"),
  // Target.Timeout ("Request timed out"), Target.FailedHealthChecks ("Health checks failed", e.g.
  // the connection is refused). "Requests are routed only to healthy targets."
  it("a target that never gets healthy turns unhealthy after unhealthy-threshold checks, with AWS's reason, and gets no request", async () => {
    const good = await backend();
    const answers503 = await backend();
    answers503.health = 503;
    const hangs = await backend();
    hangs.health = "hang";
    const refuses = await backend();
    await refuses.stop();
    const { arn, url } = await h.newGroup();
    await register(arn, good, answers503, hangs, refuses);
    await waitState(h, arn, good, "healthy");
    await waitState(h, arn, hangs, "unhealthy");
    const states = await h.health(arn, [answers503, hangs, refuses]);
    expect(states.map(stateOf)).toEqual([
      {
        State: "unhealthy",
        Reason: "Target.ResponseCodeMismatch",
        Description: "Health checks failed with these codes: [503]",
      },
      { State: "unhealthy", Reason: "Target.Timeout", Description: "Request timed out" },
      { State: "unhealthy", Reason: "Target.FailedHealthChecks", Description: "Health checks failed" },
    ]);
    expect(await servedBy(url, 12)).toEqual({ [nameOf(good)]: 12 });
    expect(answers503.requests.length + hangs.requests.length).toBe(0);
    // And it stays so: another interval later, still unhealthy.
    await sleep(5_500);
    expect((await h.health(arn, [answers503]))[0]?.TargetHealth?.State).toBe("unhealthy");
  }, 40_000);

  // HealthCheckPath, HealthCheckPort, Matcher, HealthCheckIntervalSeconds, UnhealthyThresholdCount as
  // the target group states them.
  it("health checks use the group's path, port, matcher and interval; a healthy target fails after unhealthy-threshold checks", async () => {
    const traffic = await backend("/not-the-check-path");
    // The traffic port answers 200 on every path: healthy only if the check goes to the other port
    // and wants 204.
    const checks = await backend("/lab-check", traffic);
    checks.health = 204;
    const { arn, url } = await h.newGroup({
      healthCheckPath: "/lab-check",
      healthCheckPort: String(checks.port),
      matcher: "204",
    });
    await register(arn, traffic);
    await waitState(h, arn, traffic, "healthy");
    expect((await h.health(arn, [traffic]))[0]?.HealthCheckPort).toBe(String(checks.port));
    expect(traffic.requests.filter((r) => r.path === "/lab-check")).toEqual([]);
    expect(await servedBy(url, 2)).toEqual({ [nameOf(traffic)]: 2 });

    const checksBefore = checks.checks;
    const flipped = Date.now();
    checks.health = 200;
    const toUnhealthy = await waitState(h, arn, traffic, "unhealthy");
    const checksMade = checks.checks - checksBefore;
    console.log(`healthy -> unhealthy in ${toUnhealthy.toFixed(1)} s, ${checksMade} checks`);
    expect(stateOf((await h.health(arn, [traffic]))[0])).toEqual({
      State: "unhealthy",
      Reason: "Target.ResponseCodeMismatch",
      Description: "Health checks failed with these codes: [200]",
    });
    // Two failed checks 5 s apart: between 5 and 10 s after the flip, never two checks in under 5 s.
    expect(checksMade).toBe(2);
    expect((Date.now() - flipped) / 1000).toBeGreaterThan(5);
    expect(toUnhealthy).toBeLessThan(12);
  }, 40_000);

  // HealthCheckIntervalSeconds is "the approximate amount of time between health checks of an
  // individual target", and the timeout must be below it: a check that times out does not push the
  // next one back. A healthy target that stops answering is reported within unhealthy threshold x
  // interval + timeout (2 x 5 s + 2 s here), the bound the preflight holds a bake window to.
  it("a check that times out does not delay the next: checks start an interval apart, and a hung target is unhealthy within threshold x interval + timeout", async () => {
    const hung = await backend();
    const { arn } = await h.newGroup();
    await register(arn, hung);
    await waitState(h, arn, hung, "healthy");
    const firstHungCheck = hung.checkTimes.length;
    const flipped = Date.now();
    hung.health = "hang";
    const toUnhealthy = await waitState(h, arn, hung, "unhealthy");
    const hungChecks = hung.checkTimes.slice(firstHungCheck);
    const spacing = (hungChecks[1] - hungChecks[0]) / 1000;
    console.log(
      `hung -> unhealthy in ${toUnhealthy.toFixed(1)} s; timed-out checks ${spacing.toFixed(2)} s apart`,
    );
    expect(hungChecks.length).toBeGreaterThanOrEqual(2);
    // Start to start: 5 s. A schedule that counted the interval from a check's end would give 7 s.
    expect(spacing).toBeGreaterThan(4.5);
    expect(spacing).toBeLessThan(5.8);
    expect((Date.now() - flipped) / 1000).toBeLessThan(2 * 5 + 2 + 1.5);
  }, 40_000);

  // "If there are no healthy targets ... the load balancer fails open: it routes requests to all
  // targets, regardless of their health status."
  it("fails open: with every target unhealthy, requests go to all of them", async () => {
    const a = await backend();
    const b = await backend();
    a.health = 503;
    b.health = 503;
    const { arn, url } = await h.newGroup();
    await register(arn, a, b);
    await waitState(h, arn, a, "unhealthy");
    await waitState(h, arn, b, "unhealthy");
    expect(await servedBy(url, 10)).toEqual({ [nameOf(a)]: 5, [nameOf(b)]: 5 });
  }, 30_000);
});

describe("lab ALB: deregistration", () => {
  async function twoHealthy(settings: Parameters<LabAlbHarness["newGroup"]>[0] = {}) {
    const a = await backend();
    const b = await backend();
    const group = await h.newGroup(settings);
    await register(group.arn, a, b);
    await waitState(h, group.arn, a, "healthy");
    await waitState(h, group.arn, b, "healthy");
    return { a, b, ...group };
  }

  // "Elastic Load Balancing stops sending requests to targets that are deregistering" (the state is
  // `draining` at once, Target.DeregistrationInProgress), eventually: the lab lets new requests reach
  // it for the propagation lag. DescribeTargetHealth without Targets lists it while it drains.
  it("a deregistered target is draining at once, listed unfiltered, and gets new requests only during the propagation lag", async () => {
    const { a, b, arn, url } = await twoHealthy();
    const deregisteredAt = Date.now();
    await deregister(arn, b);
    const acknowledgedAt = Date.now();
    expect(stateOf((await h.health(arn, [b]))[0])).toEqual({
      State: "draining",
      Reason: "Target.DeregistrationInProgress",
      Description: "Target deregistration is in progress",
    });
    const all = await h.health(arn);
    expect(all.map((d) => [d.Target?.Id, d.TargetHealth?.State]).sort()).toEqual(
      [
        [a.host, "healthy"],
        [b.host, "draining"],
      ].sort(),
    );
    const before = b.requests.length;
    const sends: Array<{ at: number; by?: string }> = [];
    while (Date.now() - deregisteredAt < LAG_MS + 1500) {
      const at = Date.now();
      sends.push({ at, by: (await get(url, "/")).servedBy });
    }
    const toB = sends.filter((s) => s.by === nameOf(b));
    console.log(
      `after deregistration: ${toB.length} of ${sends.length} requests reached it, the last ` +
        `${toB.length ? toB[toB.length - 1].at - deregisteredAt : "-"} ms after`,
    );
    expect(toB.length).toBeGreaterThan(0);
    // The lag starts while DeregisterTargets is answered: between the call and its answer.
    expect(toB.every((s) => s.at < acknowledgedAt + LAG_MS)).toBe(true);
    const afterLag = sends.filter((s) => s.at > acknowledgedAt + LAG_MS + 20);
    expect(afterLag.length).toBeGreaterThan(10);
    expect(afterLag.every((s) => s.by === nameOf(a))).toBe(true);
    expect(b.requests.length - before).toBe(toB.length);
  }, 40_000);

  // "If a deregistering target has no in-flight requests and no active connections, Elastic Load
  // Balancing immediately completes the deregistration process ... However, even though target
  // deregistration is complete, the status of the target is displayed as draining until the
  // deregistration delay timeout expires." Then it is gone: `unused`, Target.NotRegistered.
  it("in-flight requests finish; with none left its connections close, yet it shows draining until the delay, then unused", async () => {
    const delaySeconds = 6;
    const { a, b, arn, url } = await twoHealthy({ deregistrationDelaySeconds: delaySeconds });
    const slow = [get(url, "/slow?ms=3000"), get(url, "/slow?ms=3000")];
    await sleep(300);
    expect(b.openConnections.size).toBe(1);
    const deregisteredAt = Date.now();
    await deregister(arn, b);
    const answers = await Promise.all(slow);
    const doneAt = Date.now();
    expect(answers.map((r) => [r.status, r.body.endsWith("done\n"), r.error])).toEqual([
      [200, true, undefined],
      [200, true, undefined],
    ]);
    expect(answers.map((r) => r.servedBy).sort()).toEqual([nameOf(a), nameOf(b)].sort());
    // Internal completion: the ALB closes its (keep-alive) connection to the target at once...
    while (b.openConnections.size > 0 && Date.now() - doneAt < 2000) await sleep(20);
    const closedAfter = Date.now() - doneAt;
    console.log(
      `last in-flight request done ${doneAt - deregisteredAt} ms after deregistration; connection closed ${closedAfter} ms later`,
    );
    expect(b.openConnections.size).toBe(0);
    expect(closedAfter).toBeLessThan(1000);
    // ...and still shows draining, until the delay.
    expect((await h.health(arn, [b]))[0]?.TargetHealth?.State).toBe("draining");
    expect(a.openConnections.size).toBe(1);
    await waitState(h, arn, b, "unused", 10_000);
    const unusedAfter = (Date.now() - deregisteredAt) / 1000;
    console.log(
      `draining -> unused ${unusedAfter.toFixed(1)} s after deregistration (delay ${delaySeconds} s)`,
    );
    expect(unusedAfter).toBeGreaterThan(delaySeconds - 0.2);
    expect(unusedAfter).toBeLessThan(delaySeconds + 1.5);
    expect(stateOf((await h.health(arn, [b]))[0])).toEqual({
      State: "unused",
      Reason: "Target.NotRegistered",
      Description: "Target is not registered to the target group",
    });
    expect((await h.health(arn)).map((d) => d.Target?.Id)).toEqual([a.host]);
  }, 40_000);

  // deregistration_delay.timeout_seconds: "the amount of time for Elastic Load Balancing to wait
  // before changing the state of a deregistering target from draining to unused"; what is still in
  // flight then is closed.
  it("the deregistration delay ends a request still in flight, and the request log says so", async () => {
    const { b, arn, url } = await twoHealthy({ deregistrationDelaySeconds: 2 });
    const ids = ["cut-1", "cut-2"];
    const slow = ids.map((id) => get(url, "/slow?ms=6000", id));
    await sleep(300);
    const deregisteredAt = Date.now();
    await deregister(arn, b);
    const answers = await Promise.all(slow);
    const cut = answers.find((r) => r.servedBy === nameOf(b));
    const cutAfter = ((cut?.endedAt ?? 0) - deregisteredAt) / 1000;
    expect(cut?.error).toBe("aborted");
    expect(cut?.body.endsWith("done\n")).toBe(false);
    expect(answers.find((r) => r.servedBy !== nameOf(b))?.body.endsWith("done\n")).toBe(true);
    console.log(`the draining target's request was cut ${cutAfter.toFixed(1)} s after deregistration`);
    expect(cutAfter).toBeGreaterThan(1.8);
    expect(cutAfter).toBeLessThan(3.5);
    const lines = await loggedLines(h.alb.logPath, (l) => ids.includes(l.requestId ?? ""), 2);
    expect(lines.map((l) => [l.server, isAbnormal(l)]).sort()).toEqual(
      [
        [nameOf(b), true],
        [lines.find((l) => l.server !== nameOf(b))?.server, false],
      ].sort(),
    );
  }, 40_000);

  // DeregisterTargets of a target that is not registered succeeds on AWS (moto refuses it); the
  // target group must still exist.
  it("deregistering a target that is not registered succeeds; it is unused, Target.NotRegistered", async () => {
    const { arn } = await h.newGroup();
    const stranger = { Id: "127.0.0.250", Port: 9292 };
    await h.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [stranger] }));
    const out = await h.health(arn);
    expect(out).toEqual([]);
    const [d] = (
      await h.elbv2.send(
        new DescribeTargetHealthCommand({
          TargetGroupArn: arn,
          Targets: [stranger],
        }),
      )
    ).TargetHealthDescriptions ?? [undefined];
    expect(stateOf(d)).toEqual({
      State: "unused",
      Reason: "Target.NotRegistered",
      Description: "Target is not registered to the target group",
    });
    const missing = arn.replace(/lab-\d+\/\w+$/, "no-such-group/0123456789abcdef");
    await expect(
      h.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: missing, Targets: [stranger] })),
    ).rejects.toMatchObject({ name: "TargetGroupNotFoundException" });
  }, 20_000);
});

describe("lab ALB: traffic", () => {
  // "In slow start mode, the load balancer linearly increases the number of requests that it sends
  // to the target" ... "enters slow start mode when it is considered healthy by the target group
  // ... if there is at least one healthy target that is not in slow start mode". Without slow start
  // the same two targets share evenly (the first test: 5 and 5).
  it("slow start: a target newly healthy beside a healthy one gets a share rising from zero", async () => {
    const a = await backend();
    const b = await backend();
    const { arn, url } = await h.newGroup({ slowStartSeconds: 30 });
    await register(arn, a);
    await waitState(h, arn, a, "healthy");
    expect(await servedBy(url, 4)).toEqual({ [nameOf(a)]: 4 });
    await register(arn, b);
    await waitState(h, arn, b, "healthy");
    const early = (await servedBy(url, 40))[nameOf(b)] ?? 0;
    // A quarter into the slow start its weight is about 0.25: a fifth of the requests, not a half.
    await sleep(7_500);
    const later = (await servedBy(url, 40))[nameOf(b)] ?? 0;
    console.log(`a 30 s slow start: ${early} of 40 requests at once, ${later} of 40 after 7.5 s`);
    expect(early).toBeLessThanOrEqual(2);
    expect(later).toBeGreaterThanOrEqual(4);
    expect(later).toBeLessThanOrEqual(12);
  }, 40_000);

  it("keeps connections to a target alive: thirty requests, one connection", async () => {
    const a = await backend();
    const { arn, url } = await h.newGroup();
    await register(arn, a);
    await waitState(h, arn, a, "healthy");
    expect(await servedBy(url, 30)).toEqual({ [nameOf(a)]: 30 });
    expect(a.connectionsOpened).toBe(1);
  }, 30_000);

  it("503 with no target registered", async () => {
    const { url } = await h.newGroup();
    expect((await get(url, "/", "no-target-1")).status).toBe(503);
    const [line] = await loggedLines(h.alb.logPath, (l) => l.requestId === "no-target-1", 1);
    expect(line?.status).toBe(503);
    expect(isAbnormal(line)).toBe(true);
  }, 20_000);

  // The request log is HAProxy's httplog with the client's X-Request-Id: the one verdict reads it.
  it("logs every request with its X-Request-Id, as the verdict reads it: a target that dies mid-body fails the verdict", async () => {
    const a = await backend();
    const { arn, url } = await h.newGroup();
    await register(arn, a);
    await waitState(h, arn, a, "healthy");
    const startedAt = Date.now();
    for (const id of ["log-ok-1", "log-ok-2"]) expect((await get(url, "/", id)).status).toBe(200);
    await loggedLines(h.alb.logPath, (l) => l.requestId?.startsWith("log-ok-") === true, 2);
    const clean = readHaproxyLog(h.alb.logPath).filter((l) => l.acceptedAt >= startedAt - 1000);
    expect(
      clean
        .filter((l) => l.requestId?.startsWith("log-"))
        .map((l) => [l.requestId, l.server, l.status, l.termination, isAbnormal(l)]),
    ).toEqual([
      ["log-ok-1", nameOf(a), 200, "----", false],
      ["log-ok-2", nameOf(a), 200, "----", false],
    ]);
    const report = emptyReport(startedAt);
    expect(zeroFailureViolations(report, { minRequests: 0, minPerKind: 0, haproxyLines: clean })).toEqual([]);

    const died = await get(url, "/die", "log-die-1");
    expect(died.error).toBeDefined();
    await loggedLines(h.alb.logPath, (l) => l.requestId === "log-die-1", 1);
    const lines = readHaproxyLog(h.alb.logPath).filter((l) => l.acceptedAt >= startedAt - 1000);
    const dieLine = lines.find((l) => l.requestId === "log-die-1");
    expect(dieLine?.termination).toBe("SD--");
    const violations = zeroFailureViolations(
      { ...report, durationMs: Date.now() - startedAt },
      { minRequests: 0, minPerKind: 0, haproxyLines: lines },
    );
    expect(violations.map((v) => v.rule)).toEqual(["abnormal HAProxy line"]);
    expect(violations[0].detail).toContain("{log-die-1}");
    expect(fs.existsSync(h.alb.logPath)).toBe(true);
  }, 30_000);
});

/** A load report with nothing in it, for the verdict's log rule alone. */
function emptyReport(startedAt: number): LoadReport {
  const none = { requests: 0, failures: 0 };
  const kinds: RequestKind[] = [
    "list",
    "create",
    "upload",
    "download",
    "slow-download",
    "delete",
    "import-direct",
    "import-web",
  ];
  return {
    startedAt,
    stoppedAt: startedAt + 60_000,
    durationMs: 60_000,
    requestIdPrefix: "log-",
    requests: 0,
    failures: 0,
    failureRecords: [],
    failureSamples: [],
    failuresByType: Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as LoadReport["failuresByType"],
    cutDownloads: 0,
    requestsPerSecond: 0,
    byKind: Object.fromEntries(kinds.map((k) => [k, { ...none }])) as LoadReport["byKind"],
    maxDownloadsInFlight: 0,
    slowDownloads: [],
    timeline: [],
  };
}
