import * as fs from "node:fs";
import * as net from "node:net";

/**
 * Free loopback ports for test labs and services, picked OUTSIDE the kernel's ephemeral range.
 * A port from that range can be taken at any moment as the local end of an outbound connection:
 * in CI a Glance node's pooled MySQL connection sat on the port picked for the next node, which
 * then could not bind for 30 s. Outbound connections never use ports below the range.
 */
const LOWEST = 20_000;
const handedOut = new Set<number>();

/** `/proc/sys/net/ipv4/ip_local_port_range`, or Linux's default when it cannot be read. */
export function ephemeralRange(text?: string): { low: number; high: number } {
  let raw = text;
  if (raw === undefined) {
    try {
      raw = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8");
    } catch {
      raw = "";
    }
  }
  const [low, high] = raw.trim().split(/\s+/).map(Number);
  return Number.isInteger(low) && Number.isInteger(high) && low <= high
    ? { low, high }
    : { low: 32768, high: 60999 };
}

/** The ports a lab may pick from: [20000, low) and (high, 65535], whichever are not empty. */
export function candidateRanges(range: { low: number; high: number }): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  if (range.low > LOWEST) ranges.push([LOWEST, range.low - 1]);
  if (range.high < 65535) ranges.push([Math.max(range.high + 1, LOWEST), 65535]);
  return ranges;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive ports that were all free a moment ago and that this process has
 * not handed out before. Another process could still bind one first; outside the ephemeral range,
 * only a process that also picks fixed ports can.
 */
export async function findFreePortRun(count = 1): Promise<number> {
  const ranges = candidateRanges(ephemeralRange()).filter(([from, to]) => to - from + 1 >= count);
  if (ranges.length === 0) {
    throw new Error(
      `no room for ${count} port(s) outside the ephemeral range ${JSON.stringify(ephemeralRange())}: ` +
        `narrow net.ipv4.ip_local_port_range`,
    );
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const [from, to] = ranges[attempt % ranges.length];
    const first = from + Math.floor(Math.random() * (to - from + 2 - count));
    const run = Array.from({ length: count }, (_, i) => first + i);
    if (run.some((port) => handedOut.has(port))) continue;
    // Reserved before the check, so concurrent callers in this process never get the same port.
    for (const port of run) handedOut.add(port);
    if ((await Promise.all(run.map(portIsFree))).every(Boolean)) return first;
    for (const port of run) handedOut.delete(port);
  }
  throw new Error(`found no ${count} free consecutive port(s) on 127.0.0.1 in 1000 tries`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (see findFreePortRun). */
export function findFreePort(): Promise<number> {
  return findFreePortRun(1);
}
