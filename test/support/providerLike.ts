/**
 * A stand-in for the step provider's process, for the tests that kill one mid-step: it runs one
 * script step the way the provider does (recordStep, so under the process's abort signal) and
 * prints "step running: <line>" for each line the script prints, then "step finished" or
 * "step failed: <why>". The run comes as JSON in PROVIDER_LIKE_RUN (a test's own lab key).
 * Usage: vite-node test/support/providerLike.ts
 */
import { runScript } from "../../steps/exec/run";
import type { ScriptRun } from "../../steps/exec/types";
import { recordStep } from "../../steps/record";

const run = JSON.parse(process.env.PROVIDER_LIKE_RUN ?? "{}") as ScriptRun;
recordStep({ step: "provider-like", kind: "script", release: "test" }, (ctx) =>
  runScript(run, {
    ...ctx,
    log: (line) => {
      if (line.startsWith("| ")) process.stdout.write(`step running: ${line.slice(2)}\n`);
    },
  }),
).then(
  () => process.stdout.write("step finished\n"),
  (error: unknown) => process.stdout.write(`step failed: ${String(error)}\n`),
);
