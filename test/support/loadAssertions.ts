/**
 * What every end-to-end test asserts about the client load it ran: the fleet served throughout
 * (lab/load/verdict.ts has the check); when it did not, the message prints HAProxy's log line for
 * every failed request.
 */
import { expect } from "vitest";
import type { LabState } from "../../lab/lab";
import type { LoadReport } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import {
  describeViolations,
  labHaproxyLog,
  loadSummary,
  zeroFailureViolations,
  ZeroFailureExpectation,
} from "../../lab/load/verdict";

export { drainStarts, labHaproxyLog } from "../../lab/load/verdict";

export interface ZeroFailureOptions extends Omit<ZeroFailureExpectation, "haproxyLines"> {
  /** The lab whose HAProxy log is checked, or the log file itself. */
  haproxyLog?: LabState | string;
}

/**
 * No client request failed, no download was cut, every kind of request was made often enough, HAProxy
 * logged no 5xx and no abnormal close while the load ran, and every drain had a download to wait for.
 */
export function expectZeroFailedRequests(report: LoadReport, options: ZeroFailureOptions): void {
  const label = options.label ?? "client requests";
  const file =
    options.haproxyLog === undefined
      ? undefined
      : typeof options.haproxyLog === "string"
        ? options.haproxyLog
        : labHaproxyLog(options.haproxyLog);
  const haproxyLines = file === undefined ? undefined : readHaproxyLog(file);
  const violations = zeroFailureViolations(report, { ...options, haproxyLines });
  console.log(`${label}: ${loadSummary(report)}`);
  expect(
    describeViolations(report, violations, haproxyLines),
    `${label}: the fleet did not serve throughout`,
  ).toEqual([]);
}
