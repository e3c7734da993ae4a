/**
 * The ALB drain's wait (steps/lb/alb/membership.ts waitForDrainEnd) on a fake clock, against a fake
 * target group (draining for its whole delay, as AWS displays it) and a fake node whose connections
 * follow a script of its work; and the default connections command against a real socket.
 */
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { countConnections } from "../../steps/dispatch";
import { DrainSources, waitForDrainEnd } from "../../steps/lb/alb/membership";
import { defaultConnectionsCommand, healthUrlPort } from "../../steps/node/scripts";
import { FakeClock } from "./support/fakeClock";

const DELAY_S = 30;
const P_S = 5;
const POLL_MS = 500;

/**
 * A target deregistered at the clock's start: `draining` until the delay is over, then `unused`. The
 * node's connections at t seconds are `work(t)`; a `probeFails` node cannot be read.
 */
function fakeDrain(
  clock: FakeClock,
  work: (t: number) => number,
  opts: { probeFails?: boolean; p?: number } = {},
) {
  const sources: DrainSources = {
    target: () => Promise.resolve(clock.elapsed() < DELAY_S ? "draining" : "gone"),
    idle: {
      propagationSeconds: opts.p ?? P_S,
      connections: () =>
        opts.probeFails
          ? Promise.reject(new Error("ss: command not found"))
          : Promise.resolve(work(clock.elapsed())),
    },
  };
  const logs: string[] = [];
  const start = clock.now();
  const run = waitForDrainEnd(sources, { startMs: start, deadlineMs: start + 60_000 }, POLL_MS, {
    log: (line) => logs.push(line),
    clock,
  });
  return { run, logs, start };
}

describe("the ALB drain's wait, on a fake clock", () => {
  it("nothing in flight: ends (idle) within P + 1 s though the target shows draining for 30 s", async () => {
    const clock = new FakeClock();
    const { run, start } = fakeDrain(clock, () => 0);
    const ended = await run;
    expect(ended.end).toBe("idle");
    expect(clock.elapsed()).toBeGreaterThanOrEqual(P_S);
    expect(clock.elapsed()).toBeLessThanOrEqual(P_S + 1);
    if (ended.end === "idle") expect((ended.idleAtMs - start) / 1000).toBeGreaterThanOrEqual(P_S);
  });

  it("looks at T0 + P exactly, and 250 ms later: nothing in flight ends at P + 0.25 s", async () => {
    const clock = new FakeClock();
    const { run } = fakeDrain(clock, () => 0);
    expect((await run).end).toBe("idle");
    expect(clock.elapsed()).toBe(P_S + 0.25);
    expect(clock.sleeps.slice(-2)).toEqual([500, 250]);
  });

  it("a held download until 12 s: waits for it, ends within 1 s after it", async () => {
    const clock = new FakeClock();
    const { run } = fakeDrain(clock, (t) => (t < 12 ? 1 : 0));
    expect((await run).end).toBe("idle");
    expect(clock.elapsed()).toBeGreaterThanOrEqual(12.25);
    expect(clock.elapsed()).toBeLessThanOrEqual(13);
  });

  it("an idle keep-alive connection the load balancer keeps: never early, ends when the target leaves draining", async () => {
    const clock = new FakeClock();
    const { run } = fakeDrain(clock, () => 1);
    expect((await run).end).toBe("unused");
    expect(clock.elapsed()).toBe(DELAY_S);
  });

  it("connections that cannot be read: says so once, and waits for the target to leave draining", async () => {
    const clock = new FakeClock();
    const { run, logs } = fakeDrain(clock, () => 0, { probeFails: true });
    expect((await run).end).toBe("unused");
    expect(clock.elapsed()).toBe(DELAY_S);
    expect(logs.filter((line) => line.includes("could not read the node's connections"))).toHaveLength(1);
  });

  it("an upload longer than the timeout: times out, naming the connections still open", async () => {
    const clock = new FakeClock();
    const sources: DrainSources = {
      target: () => Promise.resolve("draining"),
      idle: { propagationSeconds: P_S, connections: () => Promise.resolve(2) },
    };
    const start = clock.now();
    const ended = await waitForDrainEnd(sources, { startMs: start, deadlineMs: start + 20_000 }, POLL_MS, {
      log: () => undefined,
      clock,
    });
    expect(ended).toEqual({ end: "timeout", lastConnections: 2 });
    expect(clock.elapsed()).toBe(20);
  });

  // A request routed during the propagation lag reaches the node at 3 s, after a quiet start.
  const lateRequest = (t: number): number => (t >= 3 && t < 4 ? 1 : 0);

  it("a request the ALB routes late (3 s after deregistering) is waited for with P = 5 s", async () => {
    const clock = new FakeClock();
    const { run } = fakeDrain(clock, lateRequest);
    expect((await run).end).toBe("idle");
    expect(clock.elapsed()).toBeGreaterThan(4);
  });

  it("(negative control) with P = 0 the same drain ends before that request arrives", async () => {
    const clock = new FakeClock();
    const { run } = fakeDrain(clock, lateRequest, { p: 0 });
    expect((await run).end).toBe("idle");
    expect(clock.elapsed()).toBeLessThan(3);
  });
});

describe("the default connections command", () => {
  it("takes the port from the health URL", () => {
    expect(healthUrlPort("http://{address}:9393/healthcheck")).toBe(9393);
    expect(healthUrlPort("https://{address}/healthcheck")).toBe(443);
    expect(defaultConnectionsCommand(9393)).toBe(
      "ss -Htn state syn-recv state established state fin-wait-1 state close-wait state last-ack " +
        "state closing '( sport = :9393 )'",
    );
  });

  it("lists a held keep-alive connection on the port, and none once it is closed (a real socket)", async () => {
    const server = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const count = async (): Promise<number> => {
      const { stdout } = await promisify(execFile)("bash", ["-c", defaultConnectionsCommand(port)]);
      return countConnections(stdout);
    };
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect(await count()).toBe(0);
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, agent }, (res) => {
            res.resume();
            res.on("end", resolve);
          })
          .on("error", reject);
      });
      expect(await count()).toBe(1);
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await count()).toBe(0);
    } finally {
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /**
   * A client that sent its request and shut its side (an upload's last byte, then FIN) while the node
   * still works on it: the node's socket is CLOSE-WAIT, no longer `established`. The default counts it;
   * `state established` alone (the first version of this command) did not, which the control shows.
   */
  it("counts a connection the client closed while the node has not answered yet (CLOSE-WAIT)", async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const count = async (command: string): Promise<number> =>
      countConnections((await promisify(execFile)("bash", ["-c", command])).stdout);
    const establishedOnly = `ss -Htn state established '( sport = :${port} )'`;
    try {
      const client = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      await new Promise((resolve) => client.once("connect", resolve));
      client.end("PUT /v2/images/x/file HTTP/1.1\r\n\r\n");
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await count(defaultConnectionsCommand(port))).toBe(1);
      expect(await count(establishedOnly)).toBe(0);
      // The node answers and closes: nothing left on its port.
      accepted.forEach((socket) => socket.end("HTTP/1.1 204 No Content\r\n\r\n"));
      client.resume();
      await new Promise((resolve) => client.once("close", resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await count(defaultConnectionsCommand(port))).toBe(0);
    } finally {
      accepted.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
