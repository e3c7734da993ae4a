#!/usr/bin/env node
/**
 * The driver: runs the program in index.ts inline through the Automation API, with the operator's
 * view around it: the runbook before, progress during, a summary after, and recovery on failure.
 *
 *   node dist/driver/cli.js <plan|preview|up|refresh|destroy|report> --stack <name> [--work-dir DIR]
 */
// Only light modules at load time: the config and state reads start before the SDK and the
// program load (~1 s of Node.js module loading, more on a busy machine), and run beside it.
import { runFiles } from "./environment";
import { COMMAND_NAMES, CommandName, EARLY_READS, EXIT_FAILED, Options } from "./commands/names";
import { firstLines } from "./commands/output";
import { defaultLocation, stackSite, startEarlyReads } from "./site";

const EXIT_USAGE = 2;
const EXIT_CONFIG = 3;

function usage(message?: string): never {
  if (message) console.error(`error: ${message}`);
  console.error(
    `usage: driver <${COMMAND_NAMES.join("|")}> --stack <name> [--work-dir <dir with Pulumi.yaml>] [--plain|--verbose]`,
  );
  process.exit(EXIT_USAGE);
}

export function parseArgs(argv: string[]): Options {
  const [command, ...rest] = argv;
  if (!command || !(COMMAND_NAMES as readonly string[]).includes(command))
    usage(command ? `unknown command '${command}'` : undefined);
  let stack: string | undefined;
  let workDir: string | undefined;
  const shown: Pick<Options, "plain" | "verbose"> = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (flag === "--plain" || flag === "--verbose") {
      shown[flag === "--plain" ? "plain" : "verbose"] = true;
      continue;
    }
    if (flag === "--stack" && value) stack = value;
    else if (flag === "--work-dir" && value) workDir = value;
    else usage(`unknown or incomplete option '${flag}'`);
    i++;
  }
  if (!stack) usage("--stack is required");
  if (shown.plain && shown.verbose) usage("--plain and --verbose exclude each other");
  return { command: command as CommandName, stack, workDir, ...shown };
}

async function run(options: Options): Promise<number> {
  const files = runFiles(options.stack, options.command);
  const site = stackSite(defaultLocation(options.stack, options.workDir), files, {
    previewOnly: options.command === "preview",
  });
  const early = startEarlyReads(site, EARLY_READS[options.command] ?? { config: false, state: false });
  const [{ openSite }, { COMMANDS }, { commandContext }] = await Promise.all([
    import("./stack"),
    import("./commands"),
    import("./commands/context"),
  ]);
  const opened = await openSite(site);
  return COMMANDS[options.command](commandContext(options, files, opened, early));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  try {
    process.exitCode = await run(options);
  } catch (error) {
    // Loaded by now whenever a ConfigError can have been thrown: the commands import it.
    const { ConfigError } = await import("../plan/config");
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = EXIT_CONFIG;
      return;
    }
    console.error(`driver ${options.command} failed: ${firstLines(error)}`);
    process.exitCode = EXIT_FAILED;
  }
}

if (require.main === module) {
  void main();
}
