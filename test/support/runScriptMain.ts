/**
 * A process that runs one node script through the project's executor, as a step provider does:
 * argv[2] is the ScriptRun as JSON. Tests bundle it and kill it mid-script, as a killed run is.
 */
import { runScript } from "../../steps/exec/run";
import type { ScriptRun } from "../../steps/exec/types";

const run = JSON.parse(process.argv[2] ?? "{}") as ScriptRun;
runScript(run, { log: (line) => process.stdout.write(`${line}\n`) }).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
