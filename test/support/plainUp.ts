/**
 * `pulumi up` as a plain Pulumi user runs it: the program, the engine, nothing else. No preflight or
 * runbook printing, no replace list, no MySQL setting re-applied, no summary. It stands in for the
 * CLI's `pulumi up --yes`, which cannot run a TypeScript project here (no Node.js language host:
 * README, "Plain Pulumi works too"); the Automation API's inline program has the same semantics.
 *
 * Usage (from dist/): node dist/test/support/plainUp.js <stack> <work dir>
 */
import { defaultLocation, openStack } from "../../driver/stack";
import { runFiles } from "../../driver/environment";

async function main(): Promise<number> {
  const [stackName, workDir] = process.argv.slice(2);
  if (!stackName || !workDir) {
    process.stderr.write("usage: plainUp.js <stack> <work dir>\n");
    return 2;
  }
  const { stack } = await openStack(defaultLocation(stackName, workDir), runFiles(stackName, "plain-up"));
  try {
    const result = await stack.up({ onOutput: (text) => process.stdout.write(text), color: "never" });
    process.stdout.write(`\nplain up: ${result.summary.result}\n`);
    return 0;
  } catch (error) {
    process.stdout.write(`\nplain up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
