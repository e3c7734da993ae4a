/** One HTTP exchange of the load client, and the ways it can fail. */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { FailureType } from "./loadReport";

export const REQUEST_ID_HEADER = "x-request-id";
export const SERVED_BY_HEADER = "x-served-by";
const REQUEST_TIMEOUT_MS = 60_000;

export class RequestFailure extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    readonly server?: string,
  ) {
    super(message);
  }
}

/** A failure for an answer whose status is not 2xx (5xx or other), or undefined for a 2xx. */
export function statusFailure(outcome: Outcome): RequestFailure | undefined {
  if (outcome.status >= 200 && outcome.status <= 299) return undefined;
  const text = outcome.body.toString("utf8").slice(0, 200);
  const type = outcome.status >= 500 ? "http-5xx" : "http-other";
  return new RequestFailure(type, `HTTP ${outcome.status} ${text}`, outcome.server);
}

export interface Outcome {
  status: number;
  body: Buffer;
  server?: string;
}

export interface ExchangeOptions {
  requestId: string;
  /** Send on a new connection of its own, closed after the answer (not one from the pool). */
  freshConnection?: boolean;
  body?: Buffer;
  contentType?: string;
  /** The body is hashed as it streams (not kept) and checked; a short or wrong body is a cut download. */
  sha256?: string;
  readBytesPerSecond?: number;
  /** Called with the answer's status and server once the headers arrive. */
  onAnswer?: (status: number, server: string | undefined) => void;
  /** With a 200, the body is left unread until this resolves. */
  holdUntil?: (server: string | undefined) => Promise<void>;
}

/** One HTTP exchange: a complete, correct answer, or a RequestFailure saying what went wrong. */
export function exchange(
  agent: http.Agent,
  baseUrl: string,
  method: string,
  path: string,
  opts: ExchangeOptions,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { [REQUEST_ID_HEADER]: opts.requestId };
    if (opts.body !== undefined) {
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
      headers["content-length"] = opts.body.length;
    }
    // The client port names the connection in HAProxy's log ("127.0.0.1:<port> [...] ...").
    let clientPort: number | undefined;
    let server: string | undefined;
    const req = http.request(
      new URL(path, baseUrl),
      { method, agent, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const status = res.statusCode ?? 0;
        const servedBy = res.headers[SERVED_BY_HEADER];
        server = typeof servedBy === "string" ? servedBy : undefined;
        opts.onAnswer?.(status, server);
        const announced =
          res.headers["content-length"] === undefined ? undefined : Number(res.headers["content-length"]);
        const verifying = opts.sha256 !== undefined && status === 200;
        const cutType: FailureType = verifying ? "cut-download" : "cut-body";
        const hash = verifying ? createHash("sha256") : undefined;
        const chunks: Buffer[] = [];
        let received = 0;
        let ended = false;
        let pacedFrom = Date.now();
        const fail = (detail: string) => reject(new RequestFailure(cutType, detail, server));
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (hash) hash.update(chunk);
          else chunks.push(chunk);
          if (opts.readBytesPerSecond !== undefined) {
            const dueAt = pacedFrom + (received / opts.readBytesPerSecond) * 1000;
            const wait = dueAt - Date.now();
            if (wait > 5) {
              res.pause();
              setTimeout(() => res.resume(), wait);
            }
          }
        });
        res.on("end", () => {
          ended = true;
          if (announced !== undefined && received < announced) {
            fail(`body cut at ${received} of ${announced} bytes`);
            return;
          }
          if (hash) {
            const digest = hash.digest("hex");
            if (digest !== opts.sha256) {
              fail(`sha256 mismatch after ${received} bytes (got ${digest})`);
              return;
            }
          }
          resolve({ status, body: Buffer.concat(chunks), server });
        });
        res.on("error", (err) => fail(`body cut at ${received} bytes: ${err.message}`));
        res.on("close", () => {
          if (!ended) fail(`connection closed mid-body at ${received} bytes`);
        });
        if (opts.holdUntil !== undefined && status === 200) {
          res.pause();
          void opts.holdUntil(server).then(() => {
            pacedFrom = Date.now();
            res.resume();
          });
        }
      },
    );
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => (clientPort = socket.localPort));
      else clientPort = socket.localPort;
    });
    req.on("timeout", () =>
      req.destroy(new RequestFailure("timeout", `no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    // "socket hang up" (closed before any response) and a TCP reset share the code ECONNRESET.
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof RequestFailure) {
        reject(err);
        return;
      }
      const where = clientPort === undefined ? "" : ` on client port ${clientPort}`;
      const reused = req.reusedSocket ? ", a reused keep-alive connection" : "";
      const what = err.code ? `${err.code} (${err.message})` : err.message;
      reject(new RequestFailure("reset-before-answer", `${what}${where}${reused}`, server));
    });
    req.end(opts.body);
  });
}
