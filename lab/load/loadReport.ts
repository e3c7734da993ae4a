/** What a load run reports: its requests, failures by kind and type, slow downloads and timeline. */

/** An import (lab/load/imports.ts) counts as one request: it succeeds when the image is active and right. */
export type ImportKind = "import-direct" | "import-web";
export const IMPORT_KINDS: readonly ImportKind[] = ["import-direct", "import-web"];

export type RequestKind = "list" | "create" | "upload" | "download" | "slow-download" | "delete" | ImportKind;
/** The kinds every load makes. */
export const REQUEST_KINDS: readonly RequestKind[] = [
  "list",
  "create",
  "upload",
  "download",
  "slow-download",
  "delete",
];
/** With the import workers too. */
export const ALL_REQUEST_KINDS: readonly RequestKind[] = [...REQUEST_KINDS, ...IMPORT_KINDS];

/**
 * What went wrong: no answer before the connection closed or was refused, no answer in time, an
 * answer with a 5xx or another non-2xx status, or an answer whose body was cut (a download's body
 * shorter than announced or not matching its sha256 is a cut download).
 */
export type FailureType =
  | "reset-before-answer"
  | "timeout"
  | "http-5xx"
  | "http-other"
  | "cut-download"
  | "cut-body"
  | ImportFailureType;
/** An import that Glance failed, that was not active in time, or whose image has other data. */
export type ImportFailureType = "import-failed" | "import-stuck" | "checksum-mismatch";
export const FAILURE_TYPES: readonly FailureType[] = [
  "reset-before-answer",
  "timeout",
  "http-5xx",
  "http-other",
  "cut-download",
  "cut-body",
  "import-failed",
  "import-stuck",
  "checksum-mismatch",
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

/** One image import of the load, from its first call to its end. */
export interface ImportSpan {
  kind: ImportKind;
  imageId?: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

export interface LoadReport {
  /** Whether the load ran import workers (then at least a few imports of each kind are expected). */
  importsEnabled?: boolean;
  /** Every import, in order of start. */
  imports?: ImportSpan[];
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
