/**
 * Small Node HTTP backends on loopback for a real HAProxy to balance, the requests the membership
 * tests send through it, and the reset that puts every instance back to all servers UP and idle.
 */
import * as http from "node:http";
import { RunningHaproxy } from "../../lab/services/haproxy";
import { pollUntil } from "../../steps/context";
import { readBackendServers, runtimeCommand } from "../../steps/lb/haproxyRuntime";

export interface HttpBackend {
  /** The server name in HAProxy; every answer carries it in the `x-node` header. */
  name: string;
  /** `127.0.0.1:port` */
  address: string;
  /** What /healthcheck answers: 200 OK, or 503 when false. */
  healthy: boolean;
  server: http.Server;
}

/** Answers /healthcheck (200 or 503), /slow?ms=N (streams small chunks for N ms) and anything else at once. */
export async function startHttpBackend(name: string): Promise<HttpBackend> {
  const backend: HttpBackend = { name, address: "", healthy: true, server: http.createServer() };
  backend.server.on("request", (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    res.setHeader("x-node", name);
    if (url.pathname === "/healthcheck") {
      res.statusCode = backend.healthy ? 200 : 503;
      res.end(backend.healthy ? "OK" : "disabled");
      return;
    }
    if (url.pathname === "/slow") {
      const until = Date.now() + Number(url.searchParams.get("ms") ?? "2000");
      res.writeHead(200, { "content-type": "text/plain" });
      res.flushHeaders();
      const timer = setInterval(() => {
        if (Date.now() >= until) {
          clearInterval(timer);
          res.end("end\n");
        } else res.write("chunk\n");
      }, 100);
      res.on("close", () => clearInterval(timer));
      return;
    }
    res.end(`hello from ${name}\n`);
  });
  await new Promise<void>((resolve) => backend.server.listen(0, "127.0.0.1", resolve));
  backend.address = `127.0.0.1:${(backend.server.address() as { port: number }).port}`;
  return backend;
}

/** Closes the backends, cutting any request still open. */
export async function stopHttpBackends(backends: HttpBackend[]): Promise<void> {
  for (const b of backends) b.server.closeAllConnections();
  await Promise.all(backends.map((b) => new Promise((resolve) => b.server.close(resolve))));
}

export interface SlowRequest {
  /** The backend serving it. */
  node: string;
  abort(): void;
  /** Resolves when the body has fully arrived. */
  done: Promise<{ status: number; body: string; finishedAt: number }>;
}

/** Starts a /slow request through HAProxy and resolves once its headers say which node serves it. */
export function startSlowRequest(frontendUrl: string, ms: number): Promise<SlowRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${frontendUrl}/slow?ms=${ms}`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      const done = new Promise<{ status: number; body: string; finishedAt: number }>((ok, fail) => {
        res.on("end", () => ok({ status: res.statusCode ?? 0, body, finishedAt: Date.now() }));
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("response aborted")));
      });
      done.catch(() => undefined); // observed by the test that awaits it
      resolve({ node: String(res.headers["x-node"]), abort: () => req.destroy(), done });
    });
    req.on("error", reject);
  });
}

/** One plain request through HAProxy: its status and the node that answered. */
export function nodeAnswering(frontendUrl: string): Promise<{ status: number; node: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(frontendUrl, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, node: String(res.headers["x-node"]) }));
      })
      .on("error", reject);
  });
}

/** Makes every backend healthy and every server READY on each instance, then waits until all are UP and idle. */
export async function resetToAllUpAndIdle(
  backends: HttpBackend[],
  instances: RunningHaproxy[],
): Promise<void> {
  for (const b of backends) b.healthy = true;
  // Every backend of every instance (an instance may hold the servers in several).
  const places = instances.flatMap((lb) => Object.keys(lb.frontendUrls).map((backend) => ({ lb, backend })));
  for (const { lb, backend } of places) {
    for (const s of await readBackendServers(lb.runtimeApi, backend)) {
      if (s.status !== "UP")
        await runtimeCommand(lb.runtimeApi, `set server ${backend}/${s.server} state ready`);
    }
  }
  await pollUntil(
    async () => {
      for (const { lb, backend } of places) {
        const servers = await readBackendServers(lb.runtimeApi, backend);
        if (!servers.every((s) => s.status === "UP" && s.scur === 0)) return undefined;
      }
      return true;
    },
    {
      timeoutMs: 10_000,
      intervalMs: 100,
      describe: () => `every server UP and idle on ${instances.length} HAProxy instance(s)`,
    },
  );
}
