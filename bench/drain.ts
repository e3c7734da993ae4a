/**
 * HAProxy drain: how long `haproxyDrain` takes from its start to done, with no traffic on the server
 * and with one download in flight whose remaining time is known (a backend streaming at a fixed
 * rate through a real HAProxy). The excess over the remaining time is the drain's own cost.
 *
 *   npm run build && node dist/bench/drain.js
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startHaproxy } from "../lab/services/haproxy";
import { pollUntil, silentContext } from "../steps/context";
import { haproxyDrain } from "../steps/lb/haproxy/oneInstance";
import { readBackendServers, runtimeCommand } from "../steps/lb/haproxyRuntime";
import { machineLine, median, millis, printTable, progress, ratioLine, runBench } from "./support/report";

const BACKEND = "glance";
const IDLE_TRIALS = 10;
const IN_FLIGHT_TRIALS = 3;
/** The download streams CHUNK bytes every TICK_MS for DOWNLOAD_MS: slow enough that HAProxy holds it. */
const CHUNK = 4 * 1024;
const TICK_MS = 50;
const DOWNLOAD_MS = 3_000;
/** The drain starts this long after the download began, so DOWNLOAD_MS - DRAIN_AFTER_MS remain. */
const DRAIN_AFTER_MS = 1_000;
const GOAL_IDLE_MS = 1_000;
const GOAL_EXCESS_MS = 1_000;

/** When each download's last byte left the backend (server clock = this process's clock). */
const downloadEnds = new Map<string, number>();

function streamingBackend(): http.Server {
  return http.createServer((req, res) => {
    if (!req.url?.startsWith("/download/")) {
      res.writeHead(200, { "content-type": "text/plain" }).end("OK");
      return;
    }
    const id = req.url.slice("/download/".length);
    const ticks = DOWNLOAD_MS / TICK_MS;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": CHUNK * ticks });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(CHUNK, 0x61));
      sent += 1;
      if (sent === ticks) {
        clearInterval(timer);
        res.end(() => downloadEnds.set(id, performance.now()));
      }
    }, TICK_MS);
    res.on("close", () => clearInterval(timer));
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve((server.address() as AddressInfo).port)),
  );
}

/** Downloads through HAProxy on a connection of its own; resolves when the client has every byte. */
function download(frontendUrl: string, id: string): { started: number; done: Promise<number> } {
  const started = performance.now();
  const done = new Promise<number>((resolve, reject) => {
    http
      .get(`${frontendUrl}/download/${id}`, { agent: false }, (res) => {
        res.on("data", () => undefined);
        res.on("end", () => resolve(performance.now()));
        res.on("error", reject);
      })
      .on("error", reject);
  });
  return { started, done };
}

async function backInRotation(runtimeApi: string, server: string): Promise<void> {
  await runtimeCommand(runtimeApi, `set server ${BACKEND}/${server} state ready`);
  await pollUntil(
    async () => {
      const stat = (await readBackendServers(runtimeApi, BACKEND)).find((s) => s.server === server);
      return stat?.status === "UP" ? true : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 50, describe: () => `${server} back UP` },
  );
}

/** The server HAProxy gave the download to: the one with a session open. */
async function serverWithSession(runtimeApi: string): Promise<string> {
  return pollUntil(
    async () => (await readBackendServers(runtimeApi, BACKEND)).find((s) => s.scur > 0)?.server,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => "a server with the download's session" },
  );
}

async function main(): Promise<void> {
  console.log(machineLine());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-bench-drain-"));
  const backends = [streamingBackend(), streamingBackend()];
  const ports = await Promise.all(backends.map(listen));
  const haproxy = await startHaproxy({
    dir: path.join(dir, "haproxy"),
    backends: ports.map((port, i) => ({ name: `s${i + 1}`, address: `127.0.0.1:${port}` })),
    backendName: BACKEND,
    // Only to bring a drained server back UP quickly between trials; the drain never waits for checks.
    checkIntervalMs: 200,
  });
  const drainArgs = (server: string) => ({
    runtimeApi: haproxy.runtimeApi,
    backend: BACKEND,
    server,
    minHealthy: 1,
    drainTimeoutSeconds: 30,
  });
  const rows: string[][] = [];
  try {
    progress(`drain with no traffic, ${IDLE_TRIALS} times`);
    const idle: number[] = [];
    for (let i = 0; i < IDLE_TRIALS; i++) {
      const started = performance.now();
      await haproxyDrain(drainArgs("s1"), silentContext);
      idle.push(performance.now() - started);
      await backInRotation(haproxy.runtimeApi, "s1");
    }
    rows.push([
      "no traffic",
      String(IDLE_TRIALS),
      "-",
      millis(median(idle)),
      millis(Math.max(...idle)),
      "-",
      "-",
    ]);

    progress(
      `drain with one download in flight (${DOWNLOAD_MS} ms long, drain after ${DRAIN_AFTER_MS} ms), ${IN_FLIGHT_TRIALS} times`,
    );
    const excesses: number[] = [];
    for (let i = 0; i < IN_FLIGHT_TRIALS; i++) {
      const id = `trial-${i}`;
      const transfer = download(haproxy.frontendUrl, id);
      const server = await serverWithSession(haproxy.runtimeApi);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, transfer.started + DRAIN_AFTER_MS - performance.now())),
      );
      const drainStart = performance.now();
      const remaining = transfer.started + DOWNLOAD_MS - drainStart;
      const drained = await haproxyDrain(drainArgs(server), silentContext);
      const drainEnd = performance.now();
      const clientDone = await transfer.done;
      const backendDone = downloadEnds.get(id) ?? Number.NaN;
      if (drained.sessionsAtStart < 1) throw new Error(`trial ${i}: the drain saw no session in flight`);
      const excess = drainEnd - drainStart - remaining;
      excesses.push(excess);
      rows.push([
        `1 download in flight (trial ${i + 1})`,
        "1",
        millis(remaining),
        millis(drainEnd - drainStart),
        millis(drainEnd - drainStart),
        millis(backendDone - drainStart),
        millis(excess),
        millis(drainEnd - Math.max(backendDone, clientDone)),
      ]);
      await backInRotation(haproxy.runtimeApi, server);
    }
    printTable(
      "HAProxy drain (steps/lb/haproxy.ts haproxyDrain, poll interval 100 ms), real HAProxy, loopback",
      [
        "scenario",
        "runs",
        "remaining at drain start",
        "drain (median)",
        "drain (max)",
        "last byte left the backend at",
        "excess: drain - remaining",
        "drain end - last byte received",
      ],
      rows,
    );
    ratioLine(
      "drain no-traffic max / 1 s",
      Math.max(...idle) / GOAL_IDLE_MS,
      "< 1",
      Math.max(...idle) < GOAL_IDLE_MS,
    );
    ratioLine(
      "drain in-flight max excess / 1 s",
      Math.max(...excesses) / GOAL_EXCESS_MS,
      "< 1",
      Math.max(...excesses) < GOAL_EXCESS_MS,
    );
  } finally {
    await haproxy.stop();
    for (const b of backends) b.closeAllConnections();
    await Promise.all(backends.map((b) => new Promise((resolve) => b.close(resolve))));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
