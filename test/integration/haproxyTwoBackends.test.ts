/**
 * One real HAProxy holding the same three servers in two backends, each behind a frontend of its
 * own: kolla-ansible's `glance_api_back` (internal VIP) and `glance_api_external_back` (external
 * VIP), both built from the same member list (ansible/roles/glance/defaults/main.yml). A drain in
 * one backend leaves the node serving through the other; naming both, every membership step acts
 * on both and the capacity guard counts each.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RunningHaproxy, startHaproxy } from "../../lab/services/haproxy";
import { bakeNode } from "../../steps/bake";
import { admitToHaproxy, checkHaproxyFleet, drainFromHaproxy } from "../../steps/lb/haproxy/loadBalancer";
import { readBackendServers, runtimeCommand } from "../../steps/lb/haproxyRuntime";
import {
  HttpBackend,
  nodeAnswering,
  resetToAllUpAndIdle,
  SlowRequest,
  startHttpBackend,
  startSlowRequest,
  stopHttpBackends,
} from "../support/haproxyBackends";
import { recordingContext, stepFailure } from "../support/stepHarness";

const INTERNAL = "glance_api_back";
const EXTERNAL = "glance_api_external_back";
const BOTH = [INTERNAL, EXTERNAL];
const SERVERS = ["n1", "n2", "n3"];

describe("HAProxy with two backends holding the same servers (real HAProxy)", () => {
  let tmp: string;
  let lb: RunningHaproxy;
  const backends: HttpBackend[] = [];

  async function statusIn(backend: string, server: string): Promise<string> {
    const servers = await readBackendServers(lb.runtimeApi, backend);
    return servers.find((s) => s.server === server)?.status ?? "missing";
  }

  /** Which nodes answer `count` plain requests through a backend's frontend (roundrobin: every UP one). */
  async function nodesAnsweringVia(backend: string, count = 9): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) seen.add((await nodeAnswering(lb.frontendUrls[backend])).node);
    return seen;
  }

  async function slowRequestOn(backend: string, node: string, ms: number): Promise<SlowRequest> {
    for (let attempt = 0; attempt < 9; attempt++) {
      const slow = await startSlowRequest(lb.frontendUrls[backend], ms);
      if (slow.node === node) return slow;
      slow.abort();
    }
    throw new Error(`no slow request landed on ${node} through ${backend}`);
  }

  const drain = (server: string, backend: string | string[], minHealthy = 1) =>
    drainFromHaproxy(
      { runtimeApis: [lb.runtimeApi], backend, server, minHealthy, drainTimeoutSeconds: 20 },
      undefined,
      recordingContext(),
    );

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-2be-"));
    for (const name of SERVERS) backends.push(await startHttpBackend(name));
    lb = await startHaproxy({
      dir: tmp,
      backends,
      backendName: INTERNAL,
      extraBackendNames: [EXTERNAL],
      checkIntervalMs: 200,
    });
  });

  afterAll(async () => {
    await lb?.stop();
    await stopHttpBackends(backends);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(() => resetToAllUpAndIdle(backends, [lb]));

  it("evidence: a drain naming one backend leaves the node taking requests through the other", async () => {
    await drain("n1", INTERNAL);
    expect(await statusIn(INTERNAL, "n1")).toBe("MAINT");
    expect(await statusIn(EXTERNAL, "n1")).toBe("UP");
    expect(await nodesAnsweringVia(INTERNAL)).not.toContain("n1");
    // The node is "out of rotation" and would be stopped next, yet the external VIP still sends it requests.
    expect(await nodesAnsweringVia(EXTERNAL)).toContain("n1");
  });

  it("a drain naming both waits for a request in flight through the other backend, then no frontend reaches the node", async () => {
    const viaExternal = await slowRequestOn(EXTERNAL, "n2", 1500);
    const ctx = recordingContext();
    const drained = await drainFromHaproxy(
      { runtimeApis: [lb.runtimeApi], backend: BOTH, server: "n2", minHealthy: 1, drainTimeoutSeconds: 20 },
      undefined,
      ctx,
    );
    const drainEnded = Date.now();
    expect(drained.alreadyOut).toBe(false);
    expect(drained.sessionsAtStart).toBe(1);
    // The drain returned only once the request through the external backend had ended, complete.
    const response = await viaExternal.done;
    expect(response.status).toBe(200);
    expect(response.body.endsWith("end\n")).toBe(true);
    expect(drainEnded).toBeGreaterThanOrEqual(response.finishedAt);
    expect(await statusIn(INTERNAL, "n2")).toBe("MAINT");
    expect(await statusIn(EXTERNAL, "n2")).toBe("MAINT");
    expect(await nodesAnsweringVia(INTERNAL)).not.toContain("n2");
    expect(await nodesAnsweringVia(EXTERNAL)).not.toContain("n2");
    expect(ctx.lines.join("\n")).toContain(`n2 (backends ${INTERNAL}, ${EXTERNAL}) drained`);

    // Admit puts it back in both, and both frontends reach it again.
    await admitToHaproxy(
      { runtimeApis: [lb.runtimeApi], backend: BOTH, server: "n2", healthTimeoutSeconds: 10 },
      undefined,
      recordingContext(),
    );
    expect(await statusIn(INTERNAL, "n2")).toBe("UP");
    expect(await statusIn(EXTERNAL, "n2")).toBe("UP");
    expect(await nodesAnsweringVia(EXTERNAL)).toContain("n2");
  });

  it("the capacity guard counts each backend: too few UP in the other backend refuses, changing nothing", async () => {
    await runtimeCommand(lb.runtimeApi, `set server ${EXTERNAL}/n2 state maint`);
    const err = await stepFailure(drain("n1", BOTH, 2));
    expect(err.message).toMatch(
      new RegExp(
        `refusing to drain n1 \\(backends ${INTERNAL}, ${EXTERNAL}\\): HAProxy ${lb.runtimeApi} backend ${EXTERNAL} ` +
          `has only 1 other healthy servers \\(n3\\), minHealthy is 2`,
      ),
    );
    expect(err.message).toContain("nothing was changed");
    expect(await statusIn(INTERNAL, "n1")).toBe("UP");
    expect(await statusIn(EXTERNAL, "n1")).toBe("UP");
    // Negative control: naming the internal backend alone, the guard sees two healthy peers and drains.
    await drain("n1", INTERNAL, 2);
    expect(await statusIn(INTERNAL, "n1")).toBe("MAINT");
  });

  it("the fleet check looks at both backends", async () => {
    const check = () =>
      checkHaproxyFleet(
        { runtimeApis: [lb.runtimeApi], backend: BOTH, expectedServers: SERVERS },
        undefined,
        recordingContext(),
      );
    expect(await check()).toEqual({ servers: SERVERS });
    await runtimeCommand(lb.runtimeApi, `set server ${EXTERNAL}/n3 state maint`);
    const err = await stepFailure(check());
    expect(err.message).toContain(`${lb.runtimeApi} backend ${EXTERNAL}: n3 is MAINT`);
    expect(err.message).not.toContain(`backend ${INTERNAL}: n3`);
  });

  it("the bake watches the node in both backends and takes it out of both", async () => {
    const target = { type: "haproxy" as const, runtimeApis: [lb.runtimeApi], backend: BOTH, server: "n3" };
    const bakeFailure = stepFailure(
      bakeNode(
        { lb: target, windowSeconds: 20, errorBudget: 0, pollIntervalMs: 100 },
        {},
        recordingContext(),
      ),
    );
    await runtimeCommand(lb.runtimeApi, `set server ${EXTERNAL}/n3 state maint`);
    const err = await bakeFailure;
    expect(err.message).toContain(`its status turned MAINT on HAProxy ${lb.runtimeApi} backend ${EXTERNAL}`);
    expect(await statusIn(INTERNAL, "n3")).toBe("MAINT");
    expect(await statusIn(EXTERNAL, "n3")).toBe("MAINT");
  });
});
