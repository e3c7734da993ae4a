import { describe, expect, it } from "vitest";
import { albStack, configErrorOf, haproxyStack, parsed, StackFixture } from "./fixtures";
import { runMockProgram, stackConfig } from "./support/mockProgram";

const NS = "glance-rolling-upgrade";

function expectProblem(stack: StackFixture, fragments: string[]): void {
  const { problems } = configErrorOf(stack);
  expect(
    problems.some((problem) => fragments.every((fragment) => problem.includes(fragment))),
    `one problem line with ${JSON.stringify(fragments)} in:\n${problems.join("\n")}`,
  ).toBe(true);
}

const bakeWith = (alarmNames: unknown) => ({ bake: { windowSeconds: 60, alarmNames } });

describe("bake.alarmNames", () => {
  it("defaults to no alarms, with or without a bake section", () => {
    expect(parsed(albStack(2)).bake).toEqual({ windowSeconds: 0, errorBudget: 0, alarmNames: [] });
    expect(parsed(albStack(2, { bake: { windowSeconds: 60 } })).bake.alarmNames).toEqual([]);
  });

  it("accepts CloudWatch alarm names, including spaces, '/', ':' and non-ASCII letters", () => {
    const names = [
      "glance-api-5xx-prod",
      "TargetGroup/glance-api-prod: UnHealthyHostCount >= 1",
      "Glance API p99 latency (prod)",
      "glance-api-über-alarm",
      "a".repeat(255),
    ];
    expect(parsed(albStack(2, bakeWith(names))).bake.alarmNames).toEqual(names);
  });

  it("is allowed with HAProxy too: the alarms do not depend on the load balancer", () => {
    const config = parsed(haproxyStack(2, bakeWith(["glance-api-5xx-lab"])));
    expect(config.bake.alarmNames).toEqual(["glance-api-5xx-lab"]);
  });

  it("rejects an empty name", () => {
    expectProblem(albStack(2, bakeWith(["ok-alarm", ""])), [
      `${NS}:bake.alarmNames[1] = ""`,
      "must not be empty",
    ]);
  });

  it("rejects a name over 255 characters", () => {
    expectProblem(albStack(2, bakeWith(["b".repeat(256)])), [
      `${NS}:bake.alarmNames[0]`,
      "at most 255 characters",
    ]);
  });

  it("rejects control characters", () => {
    expectProblem(albStack(2, bakeWith(["glance\n5xx"])), [
      `${NS}:bake.alarmNames[0] = "glance\\n5xx"`,
      "no control characters",
    ]);
    expectProblem(albStack(2, bakeWith(["glance\t5xx"])), [
      `${NS}:bake.alarmNames[0]`,
      "no control characters",
    ]);
  });

  it("rejects a duplicate, naming the first", () => {
    expectProblem(albStack(2, bakeWith(["glance-5xx", "glance-latency", "glance-5xx"])), [
      `${NS}:bake.alarmNames[2] = "glance-5xx"`,
      "duplicate of bake.alarmNames[0]",
    ]);
  });

  it("rejects more than 100 names", () => {
    const names = Array.from({ length: 101 }, (_, i) => `alarm-${i}`);
    expectProblem(albStack(2, bakeWith(names)), [`${NS}:bake.alarmNames`, "at most 100 alarms"]);
  });

  it("rejects a name that is not a string, and a single string instead of a list", () => {
    expectProblem(albStack(2, bakeWith([42])), [`${NS}:bake.alarmNames[0] = 42`, "expected string"]);
    expectProblem(albStack(2, bakeWith("glance-5xx")), [
      `${NS}:bake.alarmNames = "glance-5xx"`,
      "expected array",
    ]);
  });

  it("rejects alarms with the bake off: they would never be watched", () => {
    expectProblem(albStack(2, { bake: { alarmNames: ["glance-5xx"] } }), [
      `${NS}:bake.windowSeconds`,
      "the bake is off (windowSeconds 0)",
    ]);
    expectProblem(albStack(2, { bake: { windowSeconds: 0, alarmNames: ["glance-5xx"] } }), [
      `${NS}:bake.windowSeconds = 0`,
      "set windowSeconds",
    ]);
  });
});

describe("the bake step's request", () => {
  const bakeRequests = async (bake: Record<string, unknown>, lb: Record<string, unknown> = {}, nodes = 2) => {
    const config = stackConfig(nodes, { bake }, "alb");
    const loadBalancer = {
      ...(config.loadBalancer as object),
      ...lb,
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:5000",
    };
    const { registrations } = await runMockProgram(
      { ...config, loadBalancer },
      {
        dbPassword: "secret",
        dbAdminPassword: "secret",
      },
    );
    return registrations
      .filter((r) => r.name.endsWith("/bake"))
      .map((r) => r.inputs?.request as Record<string, unknown>);
  };

  it("carries the alarm names, with the ALB's target (its region and endpoint) beside them", async () => {
    const requests = await bakeRequests({ windowSeconds: 60, alarmNames: ["glance-api-5xx-prod"] });
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      expect(request).toMatchObject({
        kind: "bake",
        windowSeconds: 60,
        errorBudget: 0,
        alarmNames: ["glance-api-5xx-prod"],
        lb: { type: "alb", region: "eu-west-1", endpoint: "http://127.0.0.1:5000" },
      });
    }
  });

  it("leaves alarmNames out when none are named, so existing stacks' bake inputs do not change", async () => {
    const requests = await bakeRequests({ windowSeconds: 60 });
    expect(requests).toHaveLength(2);
    for (const request of requests) expect(Object.keys(request)).not.toContain("alarmNames");
  });

  // Issue 30, finding 7: a failed bake takes its node out only above the stack's minHealthy.
  it("carries loadBalancer.minHealthy when it is not the default, for the bake's take-out", async () => {
    const requests = await bakeRequests({ windowSeconds: 60 }, { minHealthy: 2 }, 3);
    expect(requests).toHaveLength(3);
    for (const request of requests) expect(request.minHealthy).toBe(2);
  });

  it("leaves minHealthy out at the default 1 (what the bake assumes), so existing stacks' bake inputs do not change", async () => {
    const requests = await bakeRequests({ windowSeconds: 60 }, { minHealthy: 1 });
    expect(requests).toHaveLength(2);
    for (const request of requests) expect(Object.keys(request)).not.toContain("minHealthy");
  });
});

describe("the preflight's rollout bounds", () => {
  const rolloutOf = async (kind: "alb" | "haproxy", bake?: Record<string, unknown>) => {
    const { registrations } = await runMockProgram(stackConfig(2, bake ? { bake } : {}, kind), {
      dbPassword: "secret",
      dbAdminPassword: "secret",
    });
    const preflight = registrations.find((r) => r.name === "preflight");
    return (preflight?.inputs?.request as { rollout?: Record<string, unknown> } | undefined)?.rollout;
  };

  it("carry the bake window on ALB, whose preflight judges it against the target group's checks", async () => {
    expect(await rolloutOf("alb", { windowSeconds: 60 })).toMatchObject({ bakeWindowSeconds: 60 });
  });

  it("leave it out with the bake off, and on HAProxy (whose bake counts errors), so those requests do not change", async () => {
    expect(await rolloutOf("alb")).toEqual({
      drainTimeoutSeconds: 300,
      healthTimeoutSeconds: 120,
      propagationSeconds: 5,
    });
    expect(await rolloutOf("haproxy", { windowSeconds: 60 })).toEqual({
      drainTimeoutSeconds: 300,
      healthTimeoutSeconds: 120,
    });
  });
});
