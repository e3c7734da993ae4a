import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = path.resolve(__dirname, "../../.ci/test-totals.sh");
const scratch = mkdtempSync(path.join(tmpdir(), "gru-ci-totals-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs .ci/test-totals.sh under bash on a log with these lines, as .ci/run does. */
function totals(lines: string[], status: number): { line: string; exitCode: number | null } {
  const log = path.join(scratch, `log-${Math.random().toString(36).slice(2)}`);
  writeFileSync(log, `${lines.join("\n")}\n`);
  const run = spawnSync("bash", [SCRIPT, log, String(status)], { encoding: "utf8" });
  return { line: run.stdout.trim(), exitCode: run.status };
}

const ESC = "\u001b";
// Vitest's summary line as printed with colours on (CI's terminal): the failure that kept CI red.
const coloured = (passed: number) =>
  `${ESC}[2m      Tests ${ESC}[22m ${ESC}[1m${ESC}[32m${passed} passed${ESC}[39m${ESC}[22m${ESC}[90m (${passed})${ESC}[39m`;

describe(".ci/test-totals.sh, the closing line of .ci/run", () => {
  it("counts coloured vitest summaries, which a plain '^ +Tests' grep misses", () => {
    expect(totals([coloured(311), "noise", coloured(103), coloured(36)], 0)).toEqual({
      line: "450 passed, 0 failed",
      exitCode: 0,
    });
  });

  it("counts plain summaries with failures and does not count skipped tests as passed", () => {
    const log = [
      "      Tests  2 failed | 309 passed | 4 skipped (315)",
      " Test Files  1 failed | 13 passed (14)",
      "      Tests  103 passed (103)",
    ];
    expect(totals(log, 1).line).toBe("412 passed, 2 failed");
  });

  it("reports one failure when npm test failed before any test ran (lint, tsc)", () => {
    expect(totals(["[warn] components/plan.ts", "Code style issues found."], 1).line).toBe(
      "0 passed, 1 failed",
    );
  });

  it("reports what it counted when everything passed and nothing else matched", () => {
    expect(totals(["Test Files  7 passed (7)", "      Tests  36 passed (36)"], 0).line).toBe(
      "36 passed, 0 failed",
    );
  });
});
