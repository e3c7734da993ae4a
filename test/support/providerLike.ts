/**
 * A stand-in for the step provider's process, for the tests that kill one mid-step: it runs one
 * step (a script over ssh, or locally) and prints "step running" once the script has started, then
 * waits for the step to end. The run comes as JSON in PROVIDER_LIKE_RUN (a test's own lab key).
 * Usage: vite-node test/support/providerLike.ts
 */
import { runScript } from "../../steps/exec/run";
import type { ScriptRun } from "../../steps/exec/types";

const run = JSON.parse(process.env.PROVIDER_LIKE_RUN ?? "{}") as ScriptRun;
runScript(run, {
  log: (line) => {
    if (line.startsWith("| ")) process.stdout.write(`step running: ${line.slice(2)}\n`);
  },
}).then(
  () => process.stdout.write("step finished\n"),
  (error: unknown) => process.stdout.write(`step failed: ${String(error)}\n`),
);
