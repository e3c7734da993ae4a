/**
 * The lab's load client is the instrument every zero-failure claim rests on, so it is shown to report
 * each kind of failure (a negative control per kind) against a loopback stand-in for Glance behind
 * HAProxy: resets on fresh and on reused keep-alive connections (never retried, never reclassified),
 * 5xx and other statuses, bodies cut mid-way, wrong checksums. It also shows what makes failures
 * traceable (a unique request id on every request, the answering server named) and that held
 * downloads keep every server busy.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { IDLE_CLOSE_MS, startLoad } from "../../lab/load/client";
import { runImport } from "../../lab/load/imports";
import { startSlowSource } from "../../lab/load/slowSource";
import { oneAtATime } from "../../lab/load/importWorker";
import { exchange, REQUEST_ID_HEADER, RequestFailure, SERVED_BY_HEADER } from "../../lab/load/exchange";
import { zeroFailureViolations } from "../../lab/load/verdict";

type Fault = (req: http.IncomingMessage, res: http.ServerResponse, nthOnConnection: number) => boolean;

interface FakeGlance {
  url: string;
  seed: { id: string; sha256: string; bytes: Buffer };
  requestIds: string[];
  /** Connections the client closed while idle (after at least one request). */
  clientIdleCloses: number;
  /** Decides per request whether to misbehave (returns true when it handled the request itself). */
  fault: Fault;
  close(): Promise<void>;
}

/**
 * A stand-in for Glance behind the lab's HAProxy: the image API the load client uses, served by two
 * named "servers" in turn (X-Served-By), images kept in memory.
 */
async function startFakeGlance(): Promise<FakeGlance> {
  const images = new Map<string, Buffer>();
  const seedBytes = randomBytes(256 * 1024);
  const seed = {
    id: randomUUID(),
    sha256: createHash("sha256").update(seedBytes).digest("hex"),
    bytes: seedBytes,
  };
  images.set(seed.id, seedBytes);
  const perSocket = new WeakMap<object, number>();
  let served = 0;
  const fake: FakeGlance = {
    url: "",
    seed,
    requestIds: [],
    clientIdleCloses: 0,
    fault: () => false,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    fake.requestIds.push(String(req.headers[REQUEST_ID_HEADER]));
    res.setHeader(SERVED_BY_HEADER, `server-${(served++ % 2) + 1}`);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (fake.fault(req, res, n)) return;
      const url = new URL(req.url ?? "/", "http://x");
      const file = /^\/v2\/images\/([^/]+)\/file$/.exec(url.pathname);
      const one = /^\/v2\/images\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && url.pathname === "/v2/images") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ images: [] }));
      } else if (req.method === "POST" && url.pathname === "/v2/images") {
        const id = randomUUID();
        images.set(id, Buffer.alloc(0));
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ id }));
      } else if (req.method === "PUT" && file) {
        images.set(file[1], Buffer.concat(chunks));
        res.writeHead(204).end();
      } else if (req.method === "GET" && file && images.has(file[1])) {
        const body = images.get(file[1]) as Buffer;
        res.writeHead(200, { "content-length": body.length }).end(body);
      } else if (req.method === "DELETE" && one) {
        images.delete(one[1]);
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end("not found");
      }
    });
  });
  server.on("connection", (socket) => {
    // The client closing first, with no request in flight, is what keeps the keep-alive race away.
    socket.on("end", () => {
      if ((perSocket.get(socket) ?? 0) > 0 && socket.writableLength === 0) fake.clientIdleCloses++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

const agent = () => new http.Agent({ keepAlive: true, maxSockets: 1, timeout: IDLE_CLOSE_MS });
let ids = 0;
const id = () => `test-${++ids}`;

async function failureOf(promise: Promise<unknown>): Promise<RequestFailure> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, "the exchange should have failed").toBeInstanceOf(RequestFailure);
  return outcome as RequestFailure;
}

describe("one exchange: every failure is reported, none is retried", () => {
  let glance: FakeGlance;
  beforeAll(async () => {
    glance = await startFakeGlance();
  });
  afterEach(() => {
    glance.fault = () => false;
  });
  afterAll(() => glance.close());

  it("a GET reset on a REUSED keep-alive connection before any answer is a failure, sent once", async () => {
    glance.fault = (_req, res, n) => (n === 2 ? (res.socket?.resetAndDestroy(), true) : false);
    const client = agent();
    const before = glance.requestIds.length;
    await exchange(client, glance.url, "GET", "/v2/images", { requestId: id() });
    const failure = await failureOf(exchange(client, glance.url, "GET", "/v2/images", { requestId: id() }));
    client.destroy();
    expect(failure.type).toBe("reset-before-answer");
    expect(failure.message).toMatch(/^ECONNRESET .* on client port \d+, a reused keep-alive connection$/);
    expect(glance.requestIds.length - before, "requests the server saw: no retry").toBe(2);
  });

  it("a reset on a fresh connection is a failure too", async () => {
    glance.fault = (_req, res) => (res.socket?.resetAndDestroy(), true);
    const failure = await failureOf(
      exchange(agent(), glance.url, "PUT", "/v2/images/x/file", { requestId: id(), body: Buffer.from("x") }),
    );
    expect(failure.type).toBe("reset-before-answer");
  });

  it("a 5xx and a 4xx come back as answers the caller counts (startLoad calls them http-5xx and http-other)", async () => {
    glance.fault = (req, res) => (res.writeHead(req.url === "/a" ? 503 : 409).end("no"), true);
    expect((await exchange(agent(), glance.url, "GET", "/a", { requestId: id() })).status).toBe(503);
    expect((await exchange(agent(), glance.url, "GET", "/b", { requestId: id() })).status).toBe(409);
  });

  it("a download whose body is cut mid-way is a cut download, naming the server that answered", async () => {
    glance.fault = (_req, res) => {
      res.writeHead(200, { "content-length": 1_000_000 });
      res.write(Buffer.alloc(1000), () => res.socket?.destroy());
      return true;
    };
    const failure = await failureOf(
      exchange(agent(), glance.url, "GET", `/v2/images/${glance.seed.id}/file`, {
        requestId: id(),
        sha256: glance.seed.sha256,
      }),
    );
    expect(failure.type).toBe("cut-download");
    expect(failure.server).toMatch(/^server-[12]$/);
  });

  it("a download with the wrong bytes is a cut download", async () => {
    glance.fault = (_req, res) => (res.writeHead(200, { "content-length": 3 }).end("abc"), true);
    const failure = await failureOf(
      exchange(agent(), glance.url, "GET", "/v2/images/x/file", {
        requestId: id(),
        sha256: glance.seed.sha256,
      }),
    );
    expect(failure.type).toBe("cut-download");
    expect(failure.message).toMatch(/sha256 mismatch/);
  });
});

describe("the keep-alive race is removed at its source", () => {
  it("the client closes an idle pooled connection itself, after about IDLE_CLOSE_MS", async () => {
    const glance = await startFakeGlance();
    try {
      const client = agent();
      await exchange(client, glance.url, "GET", "/v2/images", { requestId: id() });
      expect(glance.clientIdleCloses).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, IDLE_CLOSE_MS + 500));
      expect(glance.clientIdleCloses).toBe(1);
      client.destroy();
    } finally {
      await glance.close();
    }
  });
});

describe("a load run: counted by kind and by failure type, every request traceable", () => {
  let glance: FakeGlance;
  beforeAll(async () => {
    glance = await startFakeGlance();
  });
  afterAll(() => glance.close());

  it("runs every kind of request with unique ids, holds downloads on both servers, and reports no failure", async () => {
    glance.fault = () => false;
    const before = glance.requestIds.length;
    const load = startLoad({
      baseUrl: glance.url,
      seedImages: [glance.seed],
      slowReadBytesPerSecond: 512 * 1024,
    });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const heldNow = load.inFlight().filter((r) => r.held && r.server !== undefined);
    const report = await load.stop();
    const seen = glance.requestIds.slice(before);
    expect(new Set(seen).size, "request ids are unique").toBe(seen.length);
    expect(seen.every((rid) => rid.startsWith(`${report.requestIdPrefix}-`))).toBe(true);
    expect(report.requests).toBe(seen.length);
    expect(report.failures).toBe(0);
    expect(new Set(heldNow.map((r) => r.server))).toEqual(new Set(["server-1", "server-2"]));
    expect(report.slowDownloads.some((d) => d.server === "server-1" && d.ok)).toBe(true);
    expect(zeroFailureViolations(report, { minRequests: 50 })).toEqual([]);
  });

  it("a server that starts failing shows in the verdict, by type, with the request ids", async () => {
    const load = startLoad({ baseUrl: glance.url, seedImages: [glance.seed] });
    await new Promise((resolve) => setTimeout(resolve, 500));
    let faults = 0;
    glance.fault = (req, res) => {
      if (faults >= 6) return false;
      faults++;
      if (req.url?.endsWith("/file") && req.method === "GET") {
        res.writeHead(200, { "content-length": glance.seed.bytes.length });
        res.write(glance.seed.bytes.subarray(0, 1000), () => res.socket?.destroy());
      } else if (faults % 2 === 0) res.socket?.resetAndDestroy();
      else res.writeHead(502).end("bad gateway");
      return true;
    };
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const report = await load.stop();
    expect(report.failures).toBe(faults);
    expect(
      report.failureRecords.map((r) => r.requestId).every((rid) => glance.requestIds.includes(rid)),
    ).toBe(true);
    const rules = zeroFailureViolations(report, { minRequests: 1 }).map((v) => v.rule);
    expect(rules).toContain("failed requests");
    const types = Object.entries(report.failuresByType).filter(([, n]) => n > 0);
    expect(types.length, JSON.stringify(report.failuresByType)).toBeGreaterThanOrEqual(2);
  });
});

describe("import workers send their import calls one at a time (Glance's import lock can deadlock)", () => {
  /** A stand-in for Glance's import API that notes how many import calls it holds at once. */
  async function startImportGlance(): Promise<{
    url: string;
    maxConcurrentImportCalls: () => number;
    close(): Promise<void>;
  }> {
    let current = 0;
    let max = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const url = req.url ?? "/";
        if (req.method === "POST" && url === "/v2/images") {
          res
            .writeHead(201, { "content-type": "application/json" })
            .end(JSON.stringify({ id: randomUUID() }));
        } else if (req.method === "POST" && url.endsWith("/import")) {
          max = Math.max(max, ++current);
          setTimeout(() => {
            current--;
            res.writeHead(202).end();
          }, 50);
        } else if (req.method === "GET") {
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ status: "active", checksum: "md5-of-source" }));
        } else {
          res.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      maxConcurrentImportCalls: () => max,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  async function fourImportsAtOnce(importCall?: <T>(call: () => Promise<T>) => Promise<T>): Promise<number> {
    const glance = await startImportGlance();
    const pool = new http.Agent({ keepAlive: true });
    try {
      await Promise.all(
        [1, 2, 3, 4].map(() =>
          runImport(
            { method: "web-download", uri: "http://127.0.0.1:80/image", md5: "md5-of-source" },
            {
              agent: pool,
              baseUrl: glance.url,
              selfUrls: {},
              nextRequestId: id,
              timeoutMs: 5_000,
              importCall,
            },
          ),
        ),
      );
      return glance.maxConcurrentImportCalls();
    } finally {
      pool.destroy();
      await glance.close();
    }
  }

  it("through the workers' queue, never two import calls at once", async () => {
    expect(await fourImportsAtOnce(oneAtATime())).toBe(1);
  });

  it("negative control: without it, the stand-in sees the calls overlap", async () => {
    expect(await fourImportsAtOnce()).toBeGreaterThan(1);
  });

  it("a failed call does not block the ones after it", async () => {
    const queue = oneAtATime();
    const failed = queue(() => Promise.reject(new Error("answered 500")));
    await expect(failed).rejects.toThrow("answered 500");
    await expect(queue(() => Promise.resolve("next"))).resolves.toBe("next");
  });
});

describe("the slow source for web-download imports", () => {
  it("sends an image at the source's rate, or at the rate its URL names", async () => {
    const source = await startSlowSource({ bytes: 256 * 1024, bytesPerSecond: 64 * 1024 * 1024 });
    try {
      const timed = async (url: string) => {
        const started = Date.now();
        const body = Buffer.from(await (await fetch(url)).arrayBuffer());
        return { ms: Date.now() - started, md5: createHash("md5").update(body).digest("hex") };
      };
      const fast = await timed(source.image(7).url);
      const slow = await timed(source.image(7, 256 * 1024).url);
      expect(fast.md5).toBe(source.image(7).md5);
      expect(slow.md5).toBe(fast.md5);
      expect(fast.ms).toBeLessThan(500);
      expect(slow.ms).toBeGreaterThanOrEqual(700);
    } finally {
      await source.stop();
    }
  });
});
