/**
 * Finding 7 of issue 30: a wave's drains must not race past minHealthy. Four servers behind a real
 * HAProxy, one of them down, minHealthy 2, and two drains started together (a wave of
 * maxUnavailable 2): before the fix both read two healthy peers, both left, and one server served.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startHaproxy, RunningHaproxy } from "../../lab/services/haproxy";
import { bakeNode } from "../../steps/bake";
import { pollUntil } from "../../steps/context";
import { haproxyDrain } from "../../steps/lb/haproxy/oneInstance";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import {
  HttpBackend,
  resetToAllUpAndIdle,
  startHttpBackend,
  stopHttpBackends,
} from "../support/haproxyBackends";
import { recordingContext, stepFailure } from "../support/stepHarness";

describe("a wave of two drains with a server down (real HAProxy)", () => {
  let tmp: string;
  let lb: RunningHaproxy;
  const backends: HttpBackend[] = [];
  const drain = (server: string, minHealthy: number) =>
    haproxyDrain(
      { runtimeApi: lb.runtimeApi, backend: lb.backendName, server, minHealthy, drainTimeoutSeconds: 10 },
      recordingContext(),
    );
  const upServers = async () =>
    (await readBackendServers(lb.runtimeApi, lb.backendName))
      .filter((s) => s.status === "UP")
      .map((s) => s.server);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-capacity-"));
    for (const name of ["n1", "n2", "n3", "n4"]) backends.push(await startHttpBackend(name));
    lb = await startHaproxy({ dir: tmp, backends, checkIntervalMs: 200 });
  });

  afterAll(async () => {
    await lb?.stop();
    await stopHttpBackends(backends);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await resetToAllUpAndIdle(backends, [lb]);
    backends[3].healthy = false;
    await pollUntil(async () => ((await upServers()).includes("n4") ? undefined : true), {
      timeoutMs: 10_000,
      intervalMs: 100,
      describe: () => "n4 DOWN",
    });
  });

  it("leaves minHealthy in rotation: one drain goes, the other refuses and its server stays UP", async () => {
    const outcomes = await Promise.allSettled([drain("n1", 2), drain("n2", 2)]);
    const up = await upServers();
    expect(up.length).toBeGreaterThanOrEqual(2);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(String(refused?.reason)).toMatch(
      /refusing to drain glance\/n[12]: only 1 other healthy servers .*minHealthy is 2/,
    );
    expect(up).toEqual(expect.arrayContaining(["n3"]));
  });

  // Two addresses of the same HAProxy are two locks, as two processes would be: the look after
  // leaving is what holds. Both may refuse (each saw the other out); never both out.
  it("holds without the lock too: a drain that finds the fleet short after leaving goes back UP", async () => {
    const viaTcp = haproxyDrain(
      {
        runtimeApi: lb.runtimeApiTcp,
        backend: lb.backendName,
        server: "n2",
        minHealthy: 2,
        drainTimeoutSeconds: 10,
      },
      recordingContext(),
    );
    const outcomes = await Promise.allSettled([drain("n1", 2), viaTcp]);
    expect((await upServers()).length).toBeGreaterThanOrEqual(2);
    const refusals = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    for (const r of refusals) expect(String(r.reason)).toMatch(/refusing to drain/);
  });

  // The negative control: with capacity to spare (minHealthy 1) the same wave drains both.
  it("drains both when minHealthy leaves room for two", async () => {
    const outcomes = await Promise.allSettled([drain("n1", 1), drain("n2", 1)]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(await upServers()).toEqual(["n3"]);
  });

  describe("the bake's take-out honours minHealthy", () => {
    const status = async (server: string) =>
      (await readBackendServers(lb.runtimeApi, lb.backendName)).find((s) => s.server === server)?.status;
    /** Bakes n1 and, once the bake runs, fails its health check: the bake must take it out (or say why not). */
    const failingBake = async (minHealthy: number) => {
      const target = {
        type: "haproxy" as const,
        runtimeApis: [lb.runtimeApi],
        backend: lb.backendName,
        server: "n1",
      };
      const failure = stepFailure(
        bakeNode(
          { lb: target, windowSeconds: 20, errorBudget: 0, pollIntervalMs: 100, minHealthy },
          {},
          recordingContext(),
        ),
      );
      backends[0].healthy = false;
      return failure;
    };

    it("with too few others healthy, halts with the node left in rotation and says why", async () => {
      // n4 down, n1 failing: n2 and n3 serve, minHealthy 3. Before the fix the take-out used 0 and n1 went to MAINT.
      const error = await failingBake(3);
      expect(error.message).toMatch(/bake of n1 failed after .* its status turned DOWN/);
      expect(error.message).toContain(
        "n1 stays IN rotation: taking it out would leave 2 other healthy target(s) (n2, n3) and minHealthy is 3",
      );
      expect(error.leftChanged).toBeUndefined();
      expect(await status("n1")).not.toMatch(/MAINT|DRAIN/);
    });

    // The negative control: with the capacity to spare, the same failure takes n1 out.
    it("with enough others healthy, takes the node out", async () => {
      const error = await failingBake(2);
      expect(error.message).toContain("n1 is out of rotation (MAINT)");
      expect(await status("n1")).toBe("MAINT");
    });
  });
});
