/**
 * Membership steps across two real HAProxy instances in front of the same three small HTTP backends:
 * drain and admit act on both, the capacity guard counts the worst instance, a runtime API lost
 * mid-drain is reported per instance, and a runtime API on "another host" is reached through a real
 * loopback sshd forwarding its unix socket.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RunningHaproxy, startHaproxy } from "../../lab/services/haproxy";
import { RunningSshd, startSshd } from "../../lab/services/sshd";
import { bakeNode } from "../../steps/bake";
import { pollUntil } from "../../steps/context";
import { RuntimeEndpoint } from "../../steps/lb/haproxyEndpoints";
import { admitToHaproxy, checkHaproxyFleet, drainFromHaproxy } from "../../steps/lb/haproxy/loadBalancer";
import { readBackendServers, runtimeCommand } from "../../steps/lb/haproxyRuntime";
import { TcpProxy } from "../support/faultTools";
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

const BACKEND = "glance";
const SERVERS = ["n1", "n2", "n3"];

/** A slow request through `frontendUrl` that lands on `node` (others are aborted). */
async function slowRequestOn(frontendUrl: string, node: string, ms: number): Promise<SlowRequest> {
  for (let attempt = 0; attempt < 9; attempt++) {
    const slow = await startSlowRequest(frontendUrl, ms);
    if (slow.node === node) return slow;
    slow.abort();
  }
  throw new Error(`no slow request landed on ${node} through ${frontendUrl}`);
}

async function statusOn(runtimeApi: string, server: string): Promise<string> {
  const servers = await readBackendServers(runtimeApi, BACKEND);
  return servers.find((s) => s.server === server)?.status ?? "missing";
}

async function statusesOn(runtimeApi: string): Promise<Record<string, string>> {
  const servers = await readBackendServers(runtimeApi, BACKEND);
  return Object.fromEntries(servers.map((s) => [s.server, s.status]));
}

/** The argv of every running `ssh` client that forwards `socket`. */
function forwardsOf(socket: string): string[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv[0] === "ssh" && argv.some((a) => a.endsWith(`:${socket}`)) ? [argv.join(" ")] : [];
      } catch {
        return [];
      }
    });
}

describe("HAProxy pair: membership steps on every instance (real HAProxy x2)", () => {
  let tmp: string;
  let a: RunningHaproxy;
  let b: RunningHaproxy;
  let pair: RuntimeEndpoint[];
  const backends: HttpBackend[] = [];

  const drain = (
    server: string,
    minHealthy = 1,
    runtimeApis = pair,
    drainTimeoutSeconds = 20,
    sshPrivateKey?: string,
  ) =>
    drainFromHaproxy(
      { runtimeApis, backend: BACKEND, server, minHealthy, drainTimeoutSeconds },
      sshPrivateKey,
      recordingContext(),
    );

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-pair-"));
    for (const name of SERVERS) backends.push(await startHttpBackend(name));
    [a, b] = await Promise.all([
      startHaproxy({ dir: path.join(tmp, "a"), backends, checkIntervalMs: 200 }),
      startHaproxy({ dir: path.join(tmp, "b"), backends, checkIntervalMs: 200 }),
    ]);
    pair = [a.runtimeApi, b.runtimeApi];
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await stopHttpBackends(backends);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Every test starts with every server healthy, READY and UP on both instances, nothing in flight.
  beforeEach(() => resetToAllUpAndIdle(backends, [a, b]));

  it("drains on both instances, waiting for a slow request on each, then admits on both", async () => {
    const viaA = await startSlowRequest(a.frontendUrl, 1500);
    const viaB = await slowRequestOn(b.frontendUrl, viaA.node, 1500);
    const ctx = recordingContext();
    const drained = await drainFromHaproxy(
      { runtimeApis: pair, backend: BACKEND, server: viaA.node, minHealthy: 1, drainTimeoutSeconds: 20 },
      undefined,
      ctx,
    );
    const drainEnded = Date.now();
    expect(drained.alreadyOut).toBe(false);
    expect(drained.sessionsAtStart).toBe(2);
    for (const slow of [viaA, viaB]) {
      const response = await slow.done;
      expect(response.status).toBe(200);
      expect(response.body.endsWith("end\n")).toBe(true);
      expect(response.finishedAt).toBeLessThanOrEqual(drainEnded);
    }
    expect(await statusOn(a.runtimeApi, viaA.node)).toBe("MAINT");
    expect(await statusOn(b.runtimeApi, viaA.node)).toBe("MAINT");
    expect(ctx.lines.join("\n")).toMatch(/set to DRAIN on 2 HAProxy instances with 2 session\(s\) in flight/);
    expect(ctx.lines.join("\n")).toMatch(/drained in .* and set to MAINT on 2 HAProxy instances/);
    for (const lb of [a, b]) {
      for (let i = 0; i < 6; i++) expect((await nodeAnswering(lb.frontendUrl)).node).not.toBe(viaA.node);
    }
    await checkHaproxyFleet(
      { runtimeApis: pair, backend: BACKEND, expectedServers: SERVERS.filter((s) => s !== viaA.node) },
      undefined,
      recordingContext(),
    ).then(
      () => expect.unreachable("the fleet check must see the server in MAINT"),
      (err: Error) => expect(err.message).toMatch(new RegExp(`${a.runtimeApi}: ${viaA.node} \\(MAINT\\)`)),
    );

    const again = await drain(viaA.node);
    expect(again.alreadyOut).toBe(true);

    const admitCtx = recordingContext();
    const admitted = await admitToHaproxy(
      { runtimeApis: pair, backend: BACKEND, server: viaA.node, healthTimeoutSeconds: 10 },
      undefined,
      admitCtx,
    );
    expect(admitted.admitSeconds).toBeGreaterThan(0.15);
    expect(await statusOn(a.runtimeApi, viaA.node)).toBe("UP");
    expect(await statusOn(b.runtimeApi, viaA.node)).toBe("UP");
    expect(admitCtx.lines.join("\n")).toMatch(/passed the health checks of every HAProxy instance and is UP/);
    expect(
      await checkHaproxyFleet(
        { runtimeApis: pair, backend: BACKEND, expectedServers: SERVERS },
        undefined,
        admitCtx,
      ),
    ).toEqual({ servers: SERVERS });
  });

  it("the capacity guard counts the worst instance: a server DOWN on one instance only refuses the drain", async () => {
    await runtimeCommand(b.runtimeApi, `set server ${BACKEND}/n2 state maint`);
    const before = [await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)];
    const err = await stepFailure(drain("n1", 2));
    expect(err.message).toMatch(
      new RegExp(
        `refusing to drain glance/n1: HAProxy ${b.runtimeApi} has only 1 other healthy servers \\(n3\\)`,
      ),
    );
    expect(err.message).toContain(`other servers UP per instance: ${a.runtimeApi}: 2; ${b.runtimeApi}: 1`);
    expect(err.message).toContain("nothing was changed");
    expect([await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)]).toEqual(before);
    // With minHealthy 1 the worst instance still has one: the drain goes ahead on both.
    await drain("n1", 1);
    expect(await statusOn(a.runtimeApi, "n1")).toBe("MAINT");
    expect(await statusOn(b.runtimeApi, "n1")).toBe("MAINT");
  });

  it("an admit whose health check fails on the pair puts the server back in MAINT on both", async () => {
    await drain("n3");
    backends[2].healthy = false;
    const err = await stepFailure(
      admitToHaproxy(
        { runtimeApis: pair, backend: BACKEND, server: "n3", healthTimeoutSeconds: 1.5 },
        undefined,
        recordingContext(),
      ),
    );
    expect(err.message).toMatch(
      /glance\/n3 was not admitted \(it did not pass HAProxy's health check within 1.5 s/,
    );
    expect(err.message).toMatch(/put back in MAINT on every HAProxy instance/);
    expect(await statusOn(a.runtimeApi, "n3")).toBe("MAINT");
    expect(await statusOn(b.runtimeApi, "n3")).toBe("MAINT");
  });

  it("the bake watches the node on both instances and takes it out of both when one turns it out", async () => {
    const lb = { type: "haproxy" as const, runtimeApis: pair, backend: BACKEND, server: "n2" };
    const passed = await bakeNode(
      { lb, windowSeconds: 1, errorBudget: 0, pollIntervalMs: 100 },
      {},
      recordingContext(),
    );
    expect(passed.errors).toBe(0);
    expect(passed.seconds).toBeGreaterThanOrEqual(1);

    const bakeFailure = stepFailure(
      bakeNode({ lb, windowSeconds: 20, errorBudget: 0, pollIntervalMs: 100 }, {}, recordingContext()),
    );
    await runtimeCommand(b.runtimeApi, `set server ${BACKEND}/n2 state maint`);
    const err = await bakeFailure;
    expect(err.message).toMatch(
      new RegExp(`bake of n2 failed after .* its status turned MAINT on HAProxy ${b.runtimeApi}`),
    );
    expect(err.message).toContain("n2 is out of rotation (MAINT)");
    expect(await statusOn(a.runtimeApi, "n2")).toBe("MAINT");
    expect(await statusOn(b.runtimeApi, "n2")).toBe("MAINT");
  });

  it("one instance's runtime API killed mid-drain: halts, reporting each instance's state", async () => {
    const proxy = await TcpProxy.start({ path: b.runtimeApi.slice("unix:".length) });
    try {
      const slow = await startSlowRequest(a.frontendUrl, 4000);
      const drainFailure = stepFailure(drain(slow.node, 1, [a.runtimeApi, proxy.address]));
      await pollUntil(
        async () => ((await statusOn(b.runtimeApi, slow.node)) === "DRAIN" ? true : undefined),
        {
          timeoutMs: 5_000,
          intervalMs: 50,
          describe: () => "server in DRAIN on b",
        },
      );
      await proxy.kill();
      const err = await drainFailure;
      expect(err.message).toContain(
        `lost the HAProxy runtime API of ${proxy.address} while draining glance/${slow.node}`,
      );
      expect(err.message).toContain(`HAProxy runtime API at ${proxy.address} is unreachable (ECONNREFUSED)`);
      expect(err.message).toContain(
        `${a.runtimeApi}: DRAIN (1 session); ${proxy.address}: unreachable (last seen DRAIN (0 sessions))`,
      );
      expect(err.leftChanged).toMatch(new RegExp(`server glance/${slow.node} left in DRAIN where reachable`));
      expect(await statusOn(a.runtimeApi, slow.node)).toBe("DRAIN");
      expect(await statusOn(b.runtimeApi, slow.node)).toBe("DRAIN");
      // The drain never cut the request it was waiting for.
      const response = await slow.done;
      expect(response.body.endsWith("end\n")).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  // The race the test above can fall into, made certain: b answers the capacity read and the
  // "state drain", then is gone for the capacity re-check that follows (one connection per command).
  it("one instance's runtime API lost right after the server went to DRAIN (the capacity re-check): halts, naming where it left the server", async () => {
    const proxy = await TcpProxy.start({ path: b.runtimeApi.slice("unix:".length) });
    proxy.refuseWhen = () => proxy.accepted > 2;
    try {
      const err = await stepFailure(drain("n1", 1, [a.runtimeApi, proxy.address]));
      expect(proxy.refused).toBeGreaterThan(0);
      expect(err.message).toContain(
        `lost the HAProxy runtime API of ${proxy.address} while draining glance/n1`,
      );
      expect(err.message).toContain(`${proxy.address}: unreachable (last seen DRAIN`);
      expect(err.leftChanged).toMatch(/server glance\/n1 left in DRAIN where reachable/);
      expect(await statusOn(a.runtimeApi, "n1")).toBe("DRAIN");
      expect(await statusOn(b.runtimeApi, "n1")).toBe("DRAIN");
    } finally {
      await proxy.stop();
    }
  });

  describe("an instance reached over SSH (real loopback sshd forwarding its unix socket)", () => {
    let sshd: RunningSshd;
    let remote: RuntimeEndpoint;
    let bSocket: string;

    beforeAll(async () => {
      sshd = await startSshd({ dir: path.join(tmp, "sshd") });
      bSocket = b.runtimeApi.slice("unix:".length);
      remote = {
        ssh: {
          host: "127.0.0.1",
          port: sshd.port,
          user: sshd.user,
          hostKeyPolicy: "strict",
          knownHostsFile: sshd.knownHostsFile,
        },
        socket: bSocket,
      };
    });

    afterAll(async () => {
      await sshd?.stop();
    });

    it("drains and admits through the forward, which is closed after each step", async () => {
      const ctx = recordingContext();
      const drained = await drainFromHaproxy(
        {
          runtimeApis: [a.runtimeApi, remote],
          backend: BACKEND,
          server: "n2",
          minHealthy: 1,
          drainTimeoutSeconds: 10,
        },
        sshd.privateKey,
        ctx,
      );
      expect(drained.alreadyOut).toBe(false);
      expect(await statusOn(a.runtimeApi, "n2")).toBe("MAINT");
      expect(await statusOn(b.runtimeApi, "n2")).toBe("MAINT");
      const label = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bSocket}`;
      expect(ctx.lines.join("\n")).toContain(`HAProxy runtime API ${label} forwarded over ssh`);
      expect(sshd.log()).toMatch(/Accepted publickey/);
      expect(forwardsOf(bSocket)).toEqual([]);

      await admitToHaproxy(
        { runtimeApis: [a.runtimeApi, remote], backend: BACKEND, server: "n2", healthTimeoutSeconds: 10 },
        sshd.privateKey,
        recordingContext(),
      );
      expect(await statusOn(a.runtimeApi, "n2")).toBe("UP");
      expect(await statusOn(b.runtimeApi, "n2")).toBe("UP");
      expect(
        await checkHaproxyFleet(
          { runtimeApis: [a.runtimeApi, remote], backend: BACKEND, expectedServers: SERVERS },
          sshd.privateKey,
          recordingContext(),
        ),
      ).toEqual({ servers: SERVERS });
      expect(forwardsOf(bSocket)).toEqual([]);
    });

    it("a remote socket that does not exist is named with its host, before anything changes", async () => {
      const before = [await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)];
      const missing = { ...(remote as Exclude<RuntimeEndpoint, string>), socket: "/nonexistent/admin.sock" };
      const err = await stepFailure(drain("n1", 1, [a.runtimeApi, missing], 5, sshd.privateKey));
      expect(err.message).toContain(
        `HAProxy runtime API ssh://${sshd.user}@127.0.0.1:${sshd.port}/nonexistent/admin.sock did not answer through its ssh forward`,
      );
      expect(err.message).toContain(`"stats socket /nonexistent/admin.sock level admin"`);
      expect([await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)]).toEqual(before);
      expect(forwardsOf("/nonexistent/admin.sock")).toEqual([]);
    });

    it("a refused key fails the step before anything changes, with the ssh executor's advice", async () => {
      const keyPath = path.join(tmp, "stranger_key");
      const keygen = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath], {
        encoding: "utf8",
      });
      expect(keygen.status, keygen.stderr).toBe(0);
      const before = [await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)];
      const err = await stepFailure(
        drain("n1", 1, [a.runtimeApi, remote], 5, fs.readFileSync(keyPath, "utf8")),
      );
      expect(err.message).toContain(
        `cannot forward HAProxy's runtime API ssh://${sshd.user}@127.0.0.1:${sshd.port}`,
      );
      expect(err.message).toContain(`ssh key refused by ${sshd.user}@127.0.0.1:${sshd.port}`);
      expect(err.message).toContain("authorized_keys");
      expect(err.message).toContain("nothing was changed");
      expect([await statusesOn(a.runtimeApi), await statusesOn(b.runtimeApi)]).toEqual(before);
      expect(forwardsOf(bSocket)).toEqual([]);
    });
  });
});
