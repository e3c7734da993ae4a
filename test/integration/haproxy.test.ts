/**
 * The HAProxy membership steps against a real HAProxy (the lab harness) in front of three small
 * Node HTTP backends on loopback.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startHaproxy, RunningHaproxy } from "../../lab/services/haproxy";
import { findFreePort } from "../../lab/services/ports";
import { pollUntil } from "../../steps/context";
import {
  haproxyAdmit,
  haproxyDrain,
  haproxyFleetCheck,
  haproxyServerState,
  HaproxyServerRef,
} from "../../steps/lb/haproxy/oneInstance";
import { readBackendServers, runtimeCommand, ServerStat } from "../../steps/lb/haproxyRuntime";
import {
  HttpBackend,
  nodeAnswering,
  resetToAllUpAndIdle,
  startHttpBackend,
  startSlowRequest,
  stopHttpBackends,
} from "../support/haproxyBackends";
import { recordingContext, stepFailure } from "../support/stepHarness";

const statusesOf = (servers: ServerStat[]) => servers.map((s) => [s.server, s.status, s.weight]);

describe("HAProxy membership steps (real HAProxy)", () => {
  let tmp: string;
  let lb: RunningHaproxy;
  const backends: HttpBackend[] = [];
  const ref = (server: string): HaproxyServerRef => ({
    runtimeApi: lb.runtimeApi,
    backend: lb.backendName,
    server,
  });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-haproxy-"));
    for (const name of ["n1", "n2", "n3"]) backends.push(await startHttpBackend(name));
    lb = await startHaproxy({ dir: tmp, backends, checkIntervalMs: 200 });
  });

  afterAll(async () => {
    await lb?.stop();
    await stopHttpBackends(backends);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Every test starts from all three servers healthy, READY and UP, with nothing in flight.
  beforeEach(() => resetToAllUpAndIdle(backends, [lb]));

  it("the harness wrote the config it promises and both runtime API addresses answer", async () => {
    const cfg = fs.readFileSync(lb.configPath, "utf8");
    expect(cfg).toMatch(/option httpchk GET \/healthcheck/);
    expect(cfg).toMatch(/no option redispatch/);
    expect(cfg).toContain(`stats socket ${path.join(tmp, "admin.sock")} mode 600 level admin`);
    expect(lb.runtimeApi).toBe(`unix:${path.join(tmp, "admin.sock")}`);
    const viaTcp = await readBackendServers(lb.runtimeApiTcp, lb.backendName);
    expect(viaTcp.map((s) => [s.server, s.status, s.checkStatus])).toEqual([
      ["n1", "UP", "L7OK"],
      ["n2", "UP", "L7OK"],
      ["n3", "UP", "L7OK"],
    ]);
    expect((await nodeAnswering(lb.frontendUrl)).status).toBe(200);
  });

  it("drains an idle server at once, ends in MAINT, and a rerun is a no-op", async () => {
    const ctx = recordingContext();
    const result = await haproxyDrain({ ...ref("n1"), minHealthy: 1, drainTimeoutSeconds: 10 }, ctx);
    expect(result.alreadyOut).toBe(false);
    expect(result.sessionsAtStart).toBe(0);
    expect(result.drainSeconds).toBeLessThan(3);
    expect((await haproxyServerState(ref("n1"))).status).toBe("MAINT");
    expect(ctx.lines.join("\n")).toMatch(/glance\/n1 set to DRAIN[\s\S]*glance\/n1 drained in .* MAINT/);
    for (let i = 0; i < 6; i++) expect((await nodeAnswering(lb.frontendUrl)).node).not.toBe("n1");

    const rerun = await haproxyDrain({ ...ref("n1"), minHealthy: 1, drainTimeoutSeconds: 10 }, ctx);
    expect(rerun).toEqual({
      drainSeconds: 0,
      sessionsAtStart: 0,
      alreadyOut: true,
      inRotationAtStart: false,
    });
  });

  it("waits for an in-flight slow request, which completes, and sends new requests elsewhere", async () => {
    const slow = await startSlowRequest(lb.frontendUrl, 2000);
    const drainStarted = Date.now();
    const draining = haproxyDrain(
      { ...ref(slow.node), minHealthy: 1, drainTimeoutSeconds: 20 },
      recordingContext(),
    );
    await pollUntil(
      async () => ((await haproxyServerState(ref(slow.node))).status === "DRAIN" ? true : undefined),
      {
        timeoutMs: 5_000,
        intervalMs: 50,
        describe: () => "server in DRAIN",
      },
    );
    for (let i = 0; i < 6; i++) {
      const answer = await nodeAnswering(lb.frontendUrl);
      expect(answer.status).toBe(200);
      expect(answer.node).not.toBe(slow.node);
    }
    const result = await draining;
    const drainEnded = Date.now();
    const response = await slow.done;

    expect(response.status).toBe(200);
    expect(response.body.endsWith("end\n")).toBe(true);
    expect(response.finishedAt).toBeLessThanOrEqual(drainEnded);
    expect(result.sessionsAtStart).toBe(1);
    expect(result.drainSeconds).toBeGreaterThan(1.2);
    expect(drainEnded - drainStarted).toBeLessThan(2000 + 1500);
    expect((await haproxyServerState(ref(slow.node))).status).toBe("MAINT");
  });

  it("refuses to drain below minHealthy and changes nothing", async () => {
    const before = statusesOf(await readBackendServers(lb.runtimeApi, lb.backendName));
    const err = await stepFailure(
      haproxyDrain({ ...ref("n1"), minHealthy: 3, drainTimeoutSeconds: 5 }, recordingContext()),
    );
    expect(err.message).toMatch(
      /refusing to drain glance\/n1: only 2 other healthy servers .*minHealthy is 3/,
    );
    expect(err.message).toMatch(/nothing was changed/);
    expect(err.leftChanged).toBeUndefined();
    expect(statusesOf(await readBackendServers(lb.runtimeApi, lb.backendName))).toEqual(before);

    // A server in MAINT does not count as healthy.
    await runtimeCommand(lb.runtimeApi, "set server glance/n2 state maint");
    const err2 = await stepFailure(
      haproxyDrain({ ...ref("n1"), minHealthy: 2, drainTimeoutSeconds: 5 }, recordingContext()),
    );
    expect(err2.message).toMatch(/only 1 other healthy servers \(n3\)/);
    expect((await haproxyServerState(ref("n1"))).status).toBe("UP");
  });

  it("fails a drain that times out, naming the server it left in DRAIN and the open session", async () => {
    const slow = await startSlowRequest(lb.frontendUrl, 4000);
    const started = Date.now();
    const err = await stepFailure(
      haproxyDrain({ ...ref(slow.node), minHealthy: 1, drainTimeoutSeconds: 1 }, recordingContext()),
    );
    const failedAfterMs = Date.now() - started;
    expect(err.message).toMatch(new RegExp(`drain of glance/${slow.node} did not finish within 1 s`));
    expect(err.message).toMatch(/left in DRAIN with 1 session\(s\) still open/);
    expect(err.leftChanged).toBe(`server glance/${slow.node} left in DRAIN, 1 session(s) still open`);
    expect(failedAfterMs).toBeGreaterThanOrEqual(1000);
    expect(failedAfterMs).toBeLessThan(2500);
    expect((await haproxyServerState(ref(slow.node))).status).toBe("DRAIN");
    // The drain never cuts the request it was waiting for.
    const response = await slow.done;
    expect(response.status).toBe(200);
    expect(response.body.endsWith("end\n")).toBe(true);
  });

  it("rejects an unknown server or backend, listing what exists, and changes nothing", async () => {
    const before = statusesOf(await readBackendServers(lb.runtimeApi, lb.backendName));
    const err = await stepFailure(
      haproxyDrain({ ...ref("nope"), minHealthy: 1, drainTimeoutSeconds: 5 }, recordingContext()),
    );
    expect(err.message).toMatch(
      /backend "glance" has no server "nope" \(servers: n1, n2, n3\); nothing was changed/,
    );
    const err2 = await stepFailure(
      haproxyAdmit({ ...ref("n1"), backend: "glnce", healthTimeoutSeconds: 5 }, recordingContext()),
    );
    expect(err2.message).toMatch(/has no backend "glnce" \(backends: glance\)/);
    expect(statusesOf(await readBackendServers(lb.runtimeApi, lb.backendName))).toEqual(before);
  });

  it("admits a drained server back once HAProxy's health check passes", async () => {
    await haproxyDrain({ ...ref("n2"), minHealthy: 1, drainTimeoutSeconds: 5 }, recordingContext());
    const ctx = recordingContext();
    const result = await haproxyAdmit({ ...ref("n2"), healthTimeoutSeconds: 10 }, ctx);
    const state = await haproxyServerState(ref("n2"));
    expect(state.status).toBe("UP");
    expect(state.checkStatus).toBe("L7OK");
    // rise 2 at 200 ms: at least one check interval, far less than the timeout.
    expect(result.admitSeconds).toBeGreaterThan(0.15);
    expect(result.admitSeconds).toBeLessThan(5);
    expect(ctx.lines.join("\n")).toMatch(/glance\/n2 passed its health checks and is UP/);
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) seen.add((await nodeAnswering(lb.frontendUrl)).node);
    expect(seen.has("n2")).toBe(true);

    expect(await haproxyAdmit({ ...ref("n2"), healthTimeoutSeconds: 10 }, recordingContext())).toEqual({
      admitSeconds: 0,
    });
  });

  it("keeps a server whose health check fails out of rotation: admit times out and puts it back in MAINT", async () => {
    await haproxyDrain({ ...ref("n3"), minHealthy: 1, drainTimeoutSeconds: 5 }, recordingContext());
    backends[2]!.healthy = false;
    const seenStatuses = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seenStatuses.add((await haproxyServerState(ref("n3"))).status);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const started = Date.now();
    const err = await stepFailure(
      haproxyAdmit({ ...ref("n3"), healthTimeoutSeconds: 1.5 }, recordingContext()),
    );
    const failedAfterMs = Date.now() - started;
    watching = false;
    await watcher;

    expect(err.message).toMatch(/glance\/n3 did not pass HAProxy's health check within 1.5 s/);
    expect(err.message).toMatch(/last seen DOWN .*check L7STS/);
    expect(err.message).toMatch(/put back in MAINT/);
    expect(failedAfterMs).toBeGreaterThanOrEqual(1500);
    expect(failedAfterMs).toBeLessThan(3000);
    expect((await haproxyServerState(ref("n3"))).status).toBe("MAINT");
    // Never in rotation on the way: never UP (not even "UP 1/2"), never READY on stale health.
    expect([...seenStatuses].filter((s) => s.startsWith("UP"))).toEqual([]);
    for (let i = 0; i < 6; i++) expect((await nodeAnswering(lb.frontendUrl)).node).not.toBe("n3");
  });

  it("fleet check passes on the exact set, all UP, and fails on an unexpected or a non-UP server", async () => {
    const ctx = recordingContext();
    const api = { runtimeApi: lb.runtimeApi, backend: lb.backendName };
    expect(await haproxyFleetCheck({ ...api, expectedServers: ["n1", "n2", "n3"] }, ctx)).toEqual({
      servers: ["n1", "n2", "n3"],
    });
    const unexpected = await stepFailure(haproxyFleetCheck({ ...api, expectedServers: ["n1", "n2"] }, ctx));
    expect(unexpected.message).toMatch(/n3 \(UP\) is not in the upgraded set/);
    const missing = await stepFailure(
      haproxyFleetCheck({ ...api, expectedServers: ["n1", "n2", "n3", "n4"] }, ctx),
    );
    expect(missing.message).toMatch(/n4 is missing/);
    await runtimeCommand(lb.runtimeApi, "set server glance/n2 state maint");
    const down = await stepFailure(haproxyFleetCheck({ ...api, expectedServers: ["n1", "n2", "n3"] }, ctx));
    expect(down.message).toMatch(/n2 is MAINT/);
  });

  it("reports an unreachable runtime API with its address and the stats socket line to check", async () => {
    const port = await findFreePort();
    const tcp = await stepFailure(
      haproxyDrain(
        {
          runtimeApi: `127.0.0.1:${port}`,
          backend: "glance",
          server: "n1",
          minHealthy: 1,
          drainTimeoutSeconds: 1,
        },
        recordingContext(),
      ),
    );
    expect(tcp.message).toMatch(
      new RegExp(
        `runtime API at 127.0.0.1:${port} is unreachable \\(ECONNREFUSED\\).*"stats socket 127.0.0.1:${port} level admin"`,
      ),
    );
    const sock = path.join(tmp, "missing.sock");
    const unix = await stepFailure(
      haproxyFleetCheck(
        { runtimeApi: `unix:${sock}`, backend: "glance", expectedServers: ["n1"] },
        recordingContext(),
      ),
    );
    expect(unix.message).toMatch(
      new RegExp(`unix:${sock} is unreachable \\(ENOENT\\).*"stats socket ${sock} level admin"`),
    );
  });
});

describe("HAProxy runtime API lost mid-drain", () => {
  it("says which state the server was last seen in", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-haproxy-lost-"));
    const nodes = [await startHttpBackend("a1"), await startHttpBackend("a2")];
    const lb = await startHaproxy({ dir: tmp, backends: nodes, checkIntervalMs: 200 });
    try {
      const slow = await startSlowRequest(lb.frontendUrl, 10_000);
      slow.done.catch(() => undefined); // cut when HAProxy stops
      const drainFailure = stepFailure(
        haproxyDrain(
          {
            runtimeApi: lb.runtimeApi,
            backend: lb.backendName,
            server: slow.node,
            minHealthy: 1,
            drainTimeoutSeconds: 20,
          },
          recordingContext(),
        ),
      );
      await pollUntil(
        async () =>
          (await readBackendServers(lb.runtimeApi, lb.backendName)).some((s) => s.status === "DRAIN")
            ? true
            : undefined,
        { timeoutMs: 5_000, intervalMs: 50, describe: () => "server in DRAIN" },
      );
      await lb.stop();
      const err = await drainFailure;
      expect(err.message).toMatch(
        new RegExp(
          `lost the HAProxy runtime API while watching glance/${slow.node} \\(last seen DRAIN with 1 session\\(s\\) open`,
        ),
      );
      expect(err.message).toMatch(/is unreachable/);
      expect(err.leftChanged).toBe(`server glance/${slow.node} left in DRAIN`);
    } finally {
      await lb.stop();
      await stopHttpBackends(nodes);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
