/** The load's requests: each counted, tracked while in flight, and traced to the server that answered. */
import type * as http from "node:http";
import { exchange, type ExchangeOptions, type Outcome, RequestFailure, statusFailure } from "./exchange";
import type { FailureType, InFlightRequest, RequestKind } from "./loadReport";
import type { LoadStats } from "./loadStats";

export type Attempt = (
  kind: RequestKind,
  method: string,
  path: string,
  exchangeOpts?: Omit<ExchangeOptions, "requestId" | "onAnswer">,
) => Promise<Outcome | undefined>;

export interface CountedRequests {
  attempt: Attempt;
  /** The requests in flight, by request id. */
  inFlight: Map<string, InFlightRequest>;
  /** When each server last answered anything. */
  lastAnswered: Map<string, number>;
}

export function countedRequests(setup: {
  baseUrl: string;
  /** The pool, and the agent of requests sent on a fresh connection. */
  agent: http.Agent;
  freshAgent: http.Agent;
  stats: LoadStats;
  requestIdPrefix: string;
}): CountedRequests {
  const { baseUrl, agent, freshAgent, stats, requestIdPrefix } = setup;
  const inFlight = new Map<string, InFlightRequest>();
  const lastAnswered = new Map<string, number>();
  let sequence = 0;

  /** Runs one request; a failure or a non-2xx status is counted and yields undefined. */
  const attempt = async (
    kind: RequestKind,
    method: string,
    path: string,
    exchangeOpts: Omit<ExchangeOptions, "requestId" | "onAnswer"> = {},
  ): Promise<Outcome | undefined> => {
    const requestId = `${requestIdPrefix}-${++sequence}`;
    const entry: InFlightRequest = {
      requestId,
      kind,
      method,
      path,
      startedAt: Date.now(),
      held: exchangeOpts.holdUntil !== undefined,
    };
    inFlight.set(requestId, entry);
    const isDownload = kind === "download" || kind === "slow-download";
    if (isDownload) {
      stats.downloadsInFlight++;
      stats.maxDownloadsInFlight = Math.max(stats.maxDownloadsInFlight, stats.downloadsInFlight);
    }
    let answeredAt: number | undefined;
    let ok = false;
    const fail = (type: FailureType, detail: string, server?: string) =>
      stats.failed({ at: Date.now(), requestId, kind, type, method, path, server, detail });
    const holdUntil = exchangeOpts.holdUntil;
    try {
      const outcome = await exchange(
        exchangeOpts.freshConnection ? freshAgent : agent,
        baseUrl,
        method,
        path,
        {
          ...exchangeOpts,
          requestId,
          onAnswer: (_status, server) => {
            answeredAt = Date.now();
            entry.server = server;
            if (server !== undefined) lastAnswered.set(server, answeredAt);
          },
          holdUntil:
            holdUntil &&
            ((server) =>
              holdUntil(server).then(() => {
                entry.held = false;
              })),
        },
      );
      const failed = statusFailure(outcome);
      if (failed) {
        fail(failed.type, failed.message, failed.server);
        return undefined;
      }
      stats.counted(kind);
      ok = true;
      return outcome;
    } catch (err) {
      const failure =
        err instanceof RequestFailure ? err : new RequestFailure("reset-before-answer", String(err));
      fail(failure.type, failure.message, failure.server ?? entry.server);
      return undefined;
    } finally {
      inFlight.delete(requestId);
      if (isDownload) stats.downloadsInFlight--;
      if (kind === "slow-download") {
        stats.slowDownloads.push({
          requestId,
          server: entry.server,
          startedAt: entry.startedAt,
          answeredAt,
          endedAt: Date.now(),
          ok,
        });
      }
    }
  };

  return { attempt, inFlight, lastAnswered };
}
