import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { candidateRanges, ephemeralRange, findFreePort, findFreePortRun } from "../../lab/services/ports";

describe("lab ports stay out of the kernel's ephemeral range", () => {
  it("reads ip_local_port_range, falling back to Linux's default on anything unreadable", () => {
    expect(ephemeralRange("1024\t4999\n")).toEqual({ low: 1024, high: 4999 });
    expect(ephemeralRange("")).toEqual({ low: 32768, high: 60999 });
    expect(ephemeralRange("60999 32768")).toEqual({ low: 32768, high: 60999 });
  });

  it("picks below the range and above it, never inside it or under 20000", () => {
    expect(candidateRanges({ low: 32768, high: 60999 })).toEqual([
      [20000, 32767],
      [61000, 65535],
    ]);
    expect(candidateRanges({ low: 1024, high: 65535 })).toEqual([]);
    expect(candidateRanges({ low: 1024, high: 40000 })).toEqual([[40001, 65535]]);
  });

  it("hands out free ports outside the range, never the same one twice", async () => {
    const { low, high } = ephemeralRange();
    const ports = await Promise.all(Array.from({ length: 40 }, () => findFreePort()));
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port >= 20000 && (port < low || port > high), `port ${port}`).toBe(true);
    }
  });

  it("finds a run of consecutive ports a lab's nodes can bind", async () => {
    const first = await findFreePortRun(5);
    const servers = await Promise.all(
      Array.from(
        { length: 5 },
        (_, i) =>
          new Promise<net.Server>((resolve, reject) => {
            const server = net.createServer();
            server.once("error", reject);
            server.listen({ host: "127.0.0.1", port: first + i, exclusive: true }, () => resolve(server));
          }),
      ),
    );
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    expect(servers).toHaveLength(5);
  });
});
