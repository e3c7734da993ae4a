/**
 * The waits' decisions under a fake clock (steps/context.ts `clock`): the health gate's, the bake's,
 * and HAProxy's drain and admit timeouts, each against its real code (a local HTTP server, an
 * in-memory load balancer, a runtime API socket answering as HAProxy does), in milliseconds of real
 * time for minutes of the clock's, and to the millisecond the same every run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bakeNode } from "../../steps/bake";
import type { BakeRequest } from "../../steps/protocol";
import { pollUntil, StepContext, WaitTimeout } from "../../steps/context";
import { waitHealthy } from "../../steps/health";
import { admitToHaproxy, drainFromHaproxy } from "../../steps/lb/haproxy/loadBalancer";
import { registerLoadBalancer } from "../../steps/lb/registry";
import { FakeClock } from "./support/fakeClock";
import { fakeLoadBalancer, FakeLoadBalancer, FakeTarget } from "./support/fakeLoadBalancer";

function contextWith(clock: FakeClock): StepContext & { lines: string[] } {
  const lines: string[] = [];
  return { log: (line) => lines.push(line), clock, lines };
}

/** Real milliseconds `run` takes. */
async function realMs(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run().catch(() => undefined);
  return performance.now() - started;
}

describe("pollUntil under a fake clock", () => {
  it("gives up exactly at the deadline, its last sleep cut to it", async () => {
    const clock = new FakeClock();
    let probes = 0;
    const wait = pollUntil(async () => void probes++, {
      timeoutMs: 3_600_000,
      intervalMs: 700_000,
      clock,
      describe: () => "never",
    });
    await expect(wait).rejects.toBeInstanceOf(WaitTimeout);
    await expect(wait).rejects.toThrow("timed out after 3600.0 s: never");
    expect(clock.sleeps).toEqual([700_000, 700_000, 700_000, 700_000, 700_000, 100_000]);
    expect([probes, clock.elapsed()]).toEqual([7, 3600]);
  });

  it("returns as soon as the probe answers, the clock only as far as the sleeps went", async () => {
    const clock = new FakeClock();
    const answer = await pollUntil(async () => (clock.elapsed() >= 25 ? "up" : undefined), {
      timeoutMs: 60_000,
      intervalMs: 10_000,
      clock,
      describe: () => "x",
    });
    expect([answer, clock.elapsed()]).toEqual(["up", 30]);
  });
});

describe("the health gate under a fake clock", () => {
  let server: http.Server;
  let url: string;
  let answers: number[];
  beforeEach(async () => {
    answers = [];
    server = http.createServer((_req, res) => {
      const status = answers.shift() ?? 503;
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/healthcheck`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a node that never answers 200 fails the gate at its timeout (120 s of the clock's)", async () => {
    const clock = new FakeClock();
    const ctx = contextWith(clock);
    const gate = waitHealthy({ url, timeoutSeconds: 120, intervalMs: 10_000 }, ctx);
    await expect(gate).rejects.toThrow(
      /timed out after 120\.0 s: .* never answered 200 \(13 probes; last: HTTP 503\)/,
    );
    expect(clock.elapsed()).toBe(120);
  });

  it("a node healthy at its fourth probe passes after three intervals", async () => {
    answers = [503, 503, 502, 200];
    const clock = new FakeClock();
    const ctx = contextWith(clock);
    expect(await waitHealthy({ url, timeoutSeconds: 120, intervalMs: 10_000 }, ctx)).toEqual({ seconds: 30 });
    expect(ctx.lines.at(-1)).toBe(`${url}: healthy after 30.00 s`);
  });
});

describe("the bake under a fake clock", () => {
  let fake: FakeLoadBalancer;
  let unregister: () => void;
  // A registered kind's target is data to the bake, dispatched by its `type` (steps/lb/registry.ts).
  const m2 = { type: "fake", pool: "p", member: "m2" } satisfies FakeTarget as unknown as BakeRequest["lb"];
  beforeEach(() => {
    fake = fakeLoadBalancer(["m1", "m2", "m3"]);
    unregister = registerLoadBalancer("fake", fake);
  });
  afterEach(() => unregister());

  it("a node that stays healthy passes at the end of a 600 s window, in well under a second", async () => {
    const clock = new FakeClock();
    const request = { lb: m2, windowSeconds: 600, errorBudget: 0, pollIntervalMs: 30_000 };
    let result: unknown;
    const ms = await realMs(async () => (result = await bakeNode(request, {}, contextWith(clock))));
    expect(result).toEqual({ errors: 0, seconds: 600 });
    expect(clock.sleeps).toHaveLength(20);
    expect(ms).toBeLessThan(1_000);
  });

  it("a node that leaves at 300 s fails the bake then, and is taken out", async () => {
    const clock = new FakeClock();
    clock.onAdvance = (s) => {
      if (s >= 300) fake.inRotation.set("m2", false);
    };
    const request = { lb: m2, windowSeconds: 600, errorBudget: 0, pollIntervalMs: 30_000 };
    await expect(bakeNode(request, {}, contextWith(clock))).rejects.toThrow(
      "bake of m2 failed after 300.0 s: it left; m2 is out of the fake pool; the chain halts",
    );
    expect(fake.calls).toEqual(["watch p/m2", "take out p/m2"]);
  });
});

/**
 * An HAProxy runtime API on a unix socket, answering `show stat` and `set server` from a table:
 * enough of HAProxy for the drain's and the admit's waits.
 */
function fakeRuntimeApi(socketPath: string, servers: Record<string, { status: string; scur: number }>) {
  const commands: string[] = [];
  const server = net.createServer((socket) => {
    socket.once("data", (data) => {
      const command = data.toString().trim();
      commands.push(command);
      if (command === "show stat") {
        const rows = Object.entries(servers).map(
          ([name, s]) => `glance,${name},${s.scur},${s.status},1,2,L7OK,0,0,0`,
        );
        socket.end(
          [
            "# pxname,svname,scur,status,weight,type,check_status,hrsp_5xx,eresp,econ",
            ...rows,
            "glance,BACKEND,0,UP,3,1,,0,0,0",
            "",
          ].join("\n"),
        );
        return;
      }
      const set = /^set server glance\/(\S+) (state|health) (\S+)$/.exec(command);
      const target = set ? servers[set[1]] : undefined;
      if (!set || !target) return void socket.end("Unknown command.\n");
      if (set[2] === "state") target.status = { drain: "DRAIN", maint: "MAINT", ready: "UP" }[set[3]] ?? "?";
      else if (set[3] === "down") target.status = "DOWN";
      socket.end("\n");
    });
  });
  return {
    commands,
    listen: () => new Promise<void>((resolve) => server.listen(socketPath, resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("HAProxy's drain and admit under a fake clock", () => {
  let dir: string;
  let servers: Record<string, { status: string; scur: number }>;
  let api: ReturnType<typeof fakeRuntimeApi>;
  const membership = () => ({
    runtimeApis: [`unix:${path.join(dir, "admin.sock")}`],
    backend: "glance",
    server: "n2",
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "gru-clock-"));
    servers = { n1: { status: "UP", scur: 0 }, n2: { status: "UP", scur: 2 }, n3: { status: "UP", scur: 1 } };
    api = fakeRuntimeApi(path.join(dir, "admin.sock"), servers);
    await api.listen();
  });
  afterEach(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a drain whose sessions end at 45 s reports 45 s", async () => {
    const clock = new FakeClock();
    clock.onAdvance = (s) => {
      if (s >= 45) servers.n2.scur = 0;
    };
    const drained = await drainFromHaproxy(
      { ...membership(), minHealthy: 1, drainTimeoutSeconds: 300, pollIntervalMs: 5_000 },
      undefined,
      contextWith(clock),
    );
    expect(drained).toEqual({
      drainSeconds: 45,
      sessionsAtStart: 2,
      alreadyOut: false,
      inRotationAtStart: true,
    });
    expect(servers.n2.status).toBe("MAINT");
  });

  it("a drain whose sessions never end times out at drainTimeoutSeconds, the server left in DRAIN", async () => {
    const clock = new FakeClock();
    const ms = await realMs(async () => {
      await expect(
        drainFromHaproxy(
          { ...membership(), minHealthy: 1, drainTimeoutSeconds: 300, pollIntervalMs: 5_000 },
          undefined,
          contextWith(clock),
        ),
      ).rejects.toThrow(/300 s/);
    });
    expect(clock.elapsed()).toBe(300);
    expect(servers.n2.status).toBe("DRAIN");
    expect(ms).toBeLessThan(5_000);
  });

  it("an admit whose health checks never pass times out at healthTimeoutSeconds and goes back to MAINT", async () => {
    servers.n2 = { status: "MAINT", scur: 0 };
    const clock = new FakeClock();
    await expect(
      admitToHaproxy(
        { ...membership(), healthTimeoutSeconds: 120, pollIntervalMs: 5_000 },
        undefined,
        contextWith(clock),
      ),
    ).rejects.toThrow(/120 s/);
    expect(clock.elapsed()).toBe(120);
    expect(servers.n2.status).toBe("MAINT");
    expect(api.commands.filter((c) => c.startsWith("set server"))).toEqual([
      "set server glance/n2 state drain",
      "set server glance/n2 health down",
      "set server glance/n2 state maint",
    ]);
  });

  it("the drain refuses below minHealthy before touching anything (the shared capacity decision)", async () => {
    servers.n1.status = "DOWN 1/2";
    servers.n3.status = "MAINT";
    await expect(
      drainFromHaproxy(
        { ...membership(), minHealthy: 1, drainTimeoutSeconds: 300 },
        undefined,
        contextWith(new FakeClock()),
      ),
    ).rejects.toThrow(/minHealthy/);
    expect(api.commands.filter((c) => c.startsWith("set server"))).toEqual([]);
  });
});
