/** What every end-to-end test asserts about the client load it ran: the fleet served throughout. */
import { expect } from "vitest";
import type { LoadReport } from "../../lab/load/client";

/**
 * No client request failed (samples first, so a failure reads as what happened), no download was
 * cut short, and at least `minRequests` were made, so an idle load cannot pass for a served one.
 */
export function expectZeroFailedRequests(
  report: LoadReport,
  minRequests: number,
  label = "client requests",
): void {
  if (report.staleConnectionRetries > 0) {
    // Not failures (lab/load/client.ts says why), but shown, so that a trend is seen.
    console.log(
      `${label}: ${report.staleConnectionRetries} GET(s) retried after a stale keep-alive connection:`,
    );
    for (const sample of report.staleRetrySamples) console.log(`  ${sample}`);
  }
  expect(report.failureSamples, `failed ${label}`).toEqual([]);
  expect(report.failures, `failed ${label}`).toBe(0);
  expect(report.cutDownloads, `cut downloads among ${label}`).toBe(0);
  expect(report.requests, `${label} made`).toBeGreaterThanOrEqual(minRequests);
}
