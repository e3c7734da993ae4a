/** The load's running counts, turned into a LoadReport at the end. */
import {
  FAILURE_TYPES,
  type FailureRecord,
  type FailureType,
  type ImportSpan,
  type LoadReport,
  ALL_REQUEST_KINDS,
  type RequestKind,
  type SlowDownloadSpan,
} from "./loadReport";

const MAX_FAILURE_RECORDS = 50;

export class LoadStats {
  readonly startedAt = Date.now();
  stopRequestedAt: number | undefined;
  requests = 0;
  failures = 0;
  cutDownloads = 0;
  downloadsInFlight = 0;
  maxDownloadsInFlight = 0;
  readonly failureRecords: FailureRecord[] = [];
  readonly failuresByType = Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as Record<
    FailureType,
    number
  >;
  readonly byKind = Object.fromEntries(
    ALL_REQUEST_KINDS.map((k) => [k, { requests: 0, failures: 0 }]),
  ) as Record<RequestKind, { requests: number; failures: number }>;
  readonly slowDownloads: SlowDownloadSpan[] = [];
  private readonly perSecond = new Map<number, { requests: number; failures: number }>();

  private bucket(): { requests: number; failures: number } {
    const second = Math.floor((Date.now() - this.startedAt) / 1000);
    let entry = this.perSecond.get(second);
    if (entry === undefined) {
      entry = { requests: 0, failures: 0 };
      this.perSecond.set(second, entry);
    }
    return entry;
  }

  counted(kind: RequestKind): void {
    this.requests++;
    this.byKind[kind].requests++;
    this.bucket().requests++;
  }

  failed(record: FailureRecord): void {
    this.counted(record.kind);
    this.failures++;
    this.byKind[record.kind].failures++;
    this.failuresByType[record.type]++;
    if (record.type === "cut-download") this.cutDownloads++;
    this.bucket().failures++;
    if (this.failureRecords.length < MAX_FAILURE_RECORDS) this.failureRecords.push(record);
  }

  sample(record: FailureRecord): string {
    const elapsed = ((record.at - this.startedAt) / 1000).toFixed(1);
    const server = record.server === undefined ? "" : ` [${record.server}]`;
    return `${elapsed}s ${record.requestId} ${record.method} ${record.path}${server}: ${record.type}: ${record.detail}`;
  }

  importsEnabled = false;
  readonly imports: ImportSpan[] = [];

  report(requestIdPrefix: string): LoadReport {
    const stoppedAt = this.stopRequestedAt ?? Date.now();
    const durationMs = Date.now() - this.startedAt;
    const activeMs = stoppedAt - this.startedAt;
    const lastSecond = Math.floor(durationMs / 1000);
    const timeline: LoadReport["timeline"] = [];
    for (let second = 0; second <= lastSecond; second++) {
      timeline.push({ second, ...(this.perSecond.get(second) ?? { requests: 0, failures: 0 }) });
    }
    return {
      importsEnabled: this.importsEnabled,
      imports: structuredClone(this.imports),
      startedAt: this.startedAt,
      stoppedAt,
      durationMs,
      requestIdPrefix,
      requests: this.requests,
      failures: this.failures,
      failureRecords: structuredClone(this.failureRecords),
      failureSamples: this.failureRecords.map((r) => this.sample(r)),
      failuresByType: { ...this.failuresByType },
      cutDownloads: this.cutDownloads,
      requestsPerSecond: activeMs > 0 ? (this.requests * 1000) / activeMs : 0,
      byKind: structuredClone(this.byKind),
      maxDownloadsInFlight: this.maxDownloadsInFlight,
      slowDownloads: structuredClone(this.slowDownloads),
      timeline,
    };
  }
}
