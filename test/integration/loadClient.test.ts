/**
 * The lab's load client against a loopback HTTP server that closes connections the way a proxy's
 * keep-alive timeout can: a GET reset on a REUSED connection before any answer is retried once and
 * counted; a reset on a fresh connection, or of any other method, is still a failure.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exchangeRetryingStale, RequestFailure } from "../../lab/load/client";

/** Resets the connection instead of answering, for the requests `drop` picks. */
function startServer(drop: (req: http.IncomingMessage, nthOnConnection: number) => boolean) {
  const perSocket = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    req.on("end", () => {
      if (drop(req, n)) {
        req.socket.resetAndDestroy();
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" }).end(`answer ${n}\n`);
    });
  });
  return new Promise<{ server: http.Server; url: string }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

describe("the load client's stale keep-alive retry", () => {
  let server: http.Server;
  let url: string;
  let dropped = 0;
  let dropEvery: (req: http.IncomingMessage, n: number) => boolean = () => false;

  beforeAll(async () => {
    ({ server, url } = await startServer((req, n) => {
      const drop = dropEvery(req, n);
      if (drop) dropped++;
      return drop;
    }));
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const agent = () => new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 2_000 });

  it("retries a GET reset on a reused connection once, and reports it", async () => {
    dropped = 0;
    dropEvery = (_req, n) => n === 2; // the second request on a connection: as if idle-closed under it
    const client = agent();
    const retries: string[] = [];
    const first = await exchangeRetryingStale(client, url, "GET", "/a", {}, (what) => retries.push(what));
    const second = await exchangeRetryingStale(client, url, "GET", "/b", {}, (what) => retries.push(what));
    client.destroy();
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.toString()).toBe("answer 1\n"); // answered on a new connection
    expect(dropped).toBe(1);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatch(/^ECONNRESET .* on client port \d+, a reused keep-alive connection$/);
  });

  it("does not retry a reset on a fresh connection", async () => {
    dropped = 0;
    dropEvery = (_req, n) => n === 1;
    const client = agent();
    const retries: string[] = [];
    const failure = await exchangeRetryingStale(client, url, "GET", "/a", {}, (what) =>
      retries.push(what),
    ).catch((err: unknown) => err);
    client.destroy();
    expect(failure).toBeInstanceOf(RequestFailure);
    expect((failure as RequestFailure).message).toMatch(/^ECONNRESET/);
    expect((failure as RequestFailure).staleConnection).toBe(false);
    expect(retries).toEqual([]);
    expect(dropped).toBe(1);
  });

  it("does not retry a PUT reset on a reused connection", async () => {
    dropped = 0;
    dropEvery = (req, n) => n === 2 && req.method === "PUT";
    const client = agent();
    const retries: string[] = [];
    await exchangeRetryingStale(client, url, "GET", "/a", {}, (what) => retries.push(what));
    const failure = await exchangeRetryingStale(
      client,
      url,
      "PUT",
      "/b",
      { body: Buffer.from("x") },
      (what) => retries.push(what),
    ).catch((err: unknown) => err);
    client.destroy();
    expect(failure).toBeInstanceOf(RequestFailure);
    expect((failure as RequestFailure).staleConnection).toBe(true);
    expect(retries).toEqual([]);
    expect(dropped).toBe(1);
  });

  it("retries only once: when the retry is reset too, the GET fails", async () => {
    dropped = 0;
    dropEvery = (_req, n) => n === 2;
    const client = agent();
    const retries: string[] = [];
    await exchangeRetryingStale(client, url, "GET", "/a", {}, (what) => retries.push(what));
    // From now on every request is reset: /b on the reused connection, then its retry on a new one.
    dropEvery = () => true;
    const failure = await exchangeRetryingStale(client, url, "GET", "/b", {}, (what) =>
      retries.push(what),
    ).catch((err: unknown) => err);
    client.destroy();
    expect(failure).toBeInstanceOf(RequestFailure);
    expect((failure as RequestFailure).staleConnection).toBe(false);
    expect(retries).toHaveLength(1);
    expect(dropped).toBe(2);
  });
});
