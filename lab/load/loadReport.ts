/** What a load run reports: its requests, failures by kind and type, slow downloads and timeline. */

export type RequestKind = "list" | "create" | "upload" | "download" | "slow-download" | "delete";
export const REQUEST_KINDS: readonly RequestKind[] = [
  "list",
  "create",
  "upload",
  "download",
  "slow-download",
  "delete",
];

/**
 * What went wrong: no answer before the connection closed or was refused, no answer in time, an
 * answer with a 5xx or another non-2xx status, or an answer whose body was cut (a download's body
 * shorter than announced or not matching its sha256 is a cut download).
 */
export type FailureType =
  "reset-before-answer" | "timeout" | "http-5xx" | "http-other" | "cut-download" | "cut-body";
export const FAILURE_TYPES: readonly FailureType[] = [
  "reset-before-answer",
  "timeout",
  "http-5xx",
  "http-other",
  "cut-download",
  "cut-body",
];

export interface FailureRecord {
  /** Epoch milliseconds when the failure was seen. */
  at: number;
  requestId: string;
  kind: RequestKind;
  type: FailureType;
  method: string;
  path: string;
  /** The HAProxy server that answered (X-Served-By), when an answer began. */
  server?: string;
  detail: string;
}

/** One download of the slow kinds (paced or held), from request to its end. */
export interface SlowDownloadSpan {
  requestId: string;
  server?: string;
  startedAt: number;
  answeredAt?: number;
  endedAt: number;
  ok: boolean;
}

export interface InFlightRequest {
  requestId: string;
  kind: RequestKind;
  method: string;
  path: string;
  startedAt: number;
  /** Set once the headers arrived. */
  server?: string;
  /** A held download whose body is still unread. */
  held: boolean;
}

export interface LoadReport {
  /** Epoch milliseconds: the load's start, and when stop() was called. */
  startedAt: number;
  stoppedAt: number;
  durationMs: number;
  /** Every request id of this load starts with it. */
  requestIdPrefix: string;
  requests: number;
  /** Non-2xx answers, connection errors, timeouts and cut bodies. */
  failures: number;
  /** Up to MAX_FAILURE_RECORDS failures, in order. */
  failureRecords: FailureRecord[];
  /** The same, as "<elapsed s> <request id> <METHOD> <path> [server]: <type>: <what happened>". */
  failureSamples: string[];
  failuresByType: Record<FailureType, number>;
  /** Downloads whose body was shorter than announced or did not match the image's sha256 (also in failures). */
  cutDownloads: number;
  /** Over the run until stop() was called (stop then waits for the requests in flight). */
  requestsPerSecond: number;
  byKind: Record<RequestKind, { requests: number; failures: number }>;
  /** Most downloads in flight at the same time (slow ones included). */
  maxDownloadsInFlight: number;
  /** Every slow or held download, in order of start. */
  slowDownloads: SlowDownloadSpan[];
  /** One entry per second since start. */
  timeline: Array<{ second: number; requests: number; failures: number }>;
}
