#!/usr/bin/env node
/**
 * The driver: runs the program in index.ts inline through the Automation API, with the operator's
 * view around it: the runbook before, progress during, a summary after, and recovery on failure.
 *
 *   node dist/driver/cli.js <plan|preview|up|refresh|destroy|report> --stack <name> [--work-dir DIR]
 */
import { ConfigError, parseConfigEntries, UpgradeConfig } from "../components/config";
import { buildPlan, renderRunbook } from "../components/plan";
import { runFiles } from "./environment";
import { followProgress } from "./progress";
import { configEntries, defaultLocation, missingPlugins, openStack, OpenedStack, secretValue } from "./stack";
import { renderSummary, Summary } from "./summary";
import { reapplyBeforeResume, restoreAfterFailure, settingRecord } from "./mysqlSetting";
import { contractDone, startsToRepeat, upgradedNodes } from "./resume";
import { clearPendingOperations, fileBackendLocks, releaseStaleLocks } from "./recover";
import { rollbackProgram } from "../components/program";
import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";

const COMMANDS = [
  "plan",
  "preview",
  "up",
  "refresh",
  "destroy",
  "report",
  "recover",
  "rollback",
  "approve",
] as const;
type Command = (typeof COMMANDS)[number];

interface Options {
  command: Command;
  stack: string;
  workDir?: string;
}

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_CONFIG = 3;

function usage(message?: string): never {
  if (message) console.error(`error: ${message}`);
  console.error(`usage: driver <${COMMANDS.join("|")}> --stack <name> [--work-dir <dir with Pulumi.yaml>]`);
  process.exit(EXIT_USAGE);
}

export function parseArgs(argv: string[]): Options {
  const [command, ...rest] = argv;
  if (!command || !(COMMANDS as readonly string[]).includes(command))
    usage(command ? `unknown command '${command}'` : undefined);
  let stack: string | undefined;
  let workDir: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (flag === "--stack" && value) stack = value;
    else if (flag === "--work-dir" && value) workDir = value;
    else usage(`unknown or incomplete option '${flag}'`);
    i++;
  }
  if (!stack) usage("--stack is required");
  return { command: command as Command, stack, workDir };
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const ADMIN_PASSWORD_KEY = "glance-rolling-upgrade:dbAdminPassword";

/**
 * Prints the engine's own output lines, skipping blank ones and the stack outputs block (the plan
 * and summary, which the driver prints in its own form).
 */
function engineOutputPrinter(): (text: string) => void {
  let inOutputs = false;
  return (text) => {
    for (const line of text.split("\n")) {
      if (/^\s*Outputs:\s*$/.test(line)) inOutputs = true;
      else if (/^\s*(Resources|Duration):/.test(line)) inOutputs = false;
      if (!inOutputs && line.trim()) say(`  ${line}`);
    }
  };
}

/**
 * The stack's config, read from the CLI and parsed once per run, secrets masked: validation needs
 * only to know a secret is set, and decrypting costs the secrets provider's key derivation (or a KMS
 * call).
 * The admin password is decrypted only on the paths that touch the MySQL setting.
 */
function stackConfigOnce(opened: OpenedStack) {
  let config: Promise<UpgradeConfig> | undefined;
  let adminPassword: Promise<string | undefined> | undefined;
  return {
    config: (): Promise<UpgradeConfig> => (config ??= configEntries(opened).then(parseConfigEntries)),
    adminPassword: (): Promise<string | undefined> =>
      (adminPassword ??= secretValue(opened, ADMIN_PASSWORD_KEY)),
  };
}

async function validated(opened: OpenedStack, config: UpgradeConfig): Promise<ReturnType<typeof buildPlan>> {
  const missing = await missingPlugins(opened.workspace, config);
  if (missing.length > 0) {
    throw new ConfigError(missing.map((m) => `stack ${opened.stack.name}: ${m}`));
  }
  return buildPlan(config);
}

async function run(options: Options): Promise<number> {
  const files = runFiles(options.stack, options.command);
  const opened = await openStack(defaultLocation(options.stack, options.workDir), files, {
    previewOnly: options.command === "preview",
  });
  const { stack } = opened;
  const log = { log: (message: string) => say(`[driver] ${message}`) };
  const stackConfig = stackConfigOnce(opened);

  switch (options.command) {
    case "plan": {
      say(renderRunbook(await validated(opened, await stackConfig.config())));
      return 0;
    }
    case "preview": {
      const plan = await validated(opened, await stackConfig.config());
      say(renderRunbook(plan));
      say("");
      const result = await stack.preview({ diff: true, onOutput: engineOutputPrinter(), color: "never" });
      say(`preview: ${JSON.stringify(result.changeSummary)}`);
      return 0;
    }
    case "up": {
      // Two read-only CLI processes, each loading the backend: together they cost one's latency.
      const [plan, state] = await Promise.all([
        stackConfig.config().then((config) => validated(opened, config)),
        stack.exportStack(),
      ]);
      const config = await stackConfig.config();
      say(renderRunbook(plan));
      say(`\nrun records: ${files.dir}`);
      const record = settingRecord(state);
      const reapplied = await reapplyBeforeResume(record, config, stackConfig.adminPassword, log);
      if (reapplied) say(`[driver] ${reapplied}`);
      const replace = startsToRepeat(state, config.targetRelease, config.bake.windowSeconds > 0);
      if (replace.length > 0) {
        say(
          `[driver] resuming: ${replace.map((urn) => urn.split("::").at(-1)).join(", ")} run again (their health gate or bake did not pass)`,
        );
      }
      const progress = followProgress(files.progress, (line) => say(`  ${line}`));
      try {
        const result = await stack.up({ onOutput: engineOutputPrinter(), color: "never", replace });
        progress.stop();
        say(`\nup: ${result.summary.result}; ${JSON.stringify(result.summary.resourceChanges ?? {})}`);
        say(renderSummary((result.outputs.summary?.value ?? {}) as Summary));
        if (plan.pause?.active) {
          const paused = settingRecord(await stack.exportStack());
          say(`[driver] ${await restoreAfterFailure(paused, config, stackConfig.adminPassword, log)}`);
          say(
            `[driver] PAUSED after ${plan.pause.afterStep}: the fleet serves, no later node was touched and db contract has not run.\n` +
              `[driver] Check the upgraded nodes, then approve ${config.targetRelease} with ` +
              `\`node dist/driver/cli.js approve --stack ${options.stack}\` and run \`up\` again.`,
          );
        }
        return 0;
      } catch (error) {
        progress.stop();
        if (error instanceof ConcurrentUpdateError) {
          say(`\nup REFUSED: ${lockHolders(error)}`);
          say(
            "[driver] Another run holds this stack's lock, so this one changed nothing (no step ran, no setting was touched).\n" +
              "[driver] Wait for that run to finish, then run `up` again: finished steps are not repeated. " +
              "Do not remove the lock (`pulumi cancel`) while that run is alive; for a run that died, see README: recovery.",
          );
          return EXIT_FAILED;
        }
        say(`\nup FAILED: ${firstLines(error)}`);
        const after = settingRecord(await stack.exportStack());
        say(`[driver] ${await restoreAfterFailure(after, config, stackConfig.adminPassword, log)}`);
        say(
          "[driver] The fleet keeps serving: the failed node stays out of rotation and db contract did not run.\n" +
            "[driver] Fix the cause shown above, then run `up` again: finished steps are not repeated.",
        );
        return EXIT_FAILED;
      }
    }
    case "recover": {
      const backend = opened.env.PULUMI_BACKEND_URL;
      const { released, blocking } = releaseStaleLocks(
        fileBackendLocks(backend, "glance-rolling-upgrade", options.stack),
      );
      for (const lock of released)
        say(`[driver] released the lock of pid ${lock.pid} (gone) from ${lock.timestamp}`);
      if (blocking.length > 0) {
        for (const reason of blocking) say(`[driver] ${reason}`);
        return EXIT_FAILED;
      }
      if (!backend.startsWith("file://"))
        say(`[driver] ${backend} is not a file backend: check its lock with your backend's tools`);
      const { cleaned, cleared } = clearPendingOperations(await stack.exportStack());
      if (cleared.length > 0) {
        await stack.importStack(cleaned);
        for (const op of cleared)
          say(
            `[driver] cleared pending ${op.type} of ${op.resource.urn.split("::").at(-1)}: it runs again on the next up`,
          );
      }
      const config = await stackConfig.config();
      say(
        `[driver] ${await restoreAfterFailure(settingRecord(cleaned), config, stackConfig.adminPassword, log)}`,
      );
      say("[driver] recovered: run `up` to finish the upgrade; finished steps are not repeated");
      return 0;
    }
    case "rollback": {
      const config = await stackConfig.config();
      if (!config.rollbackTo) {
        throw new ConfigError([
          `stack ${options.stack}: set glance-rolling-upgrade:rollbackTo (release, version) to roll back`,
        ]);
      }
      const state = await stack.exportStack();
      if (contractDone(state, config.targetRelease)) {
        say(
          `[driver] refused: db contract has run for ${config.targetRelease}, so release ${config.rollbackTo.release} ` +
            "cannot run on this schema. Restore the pre-upgrade backup instead (README: recovery).",
        );
        return EXIT_FAILED;
      }
      const fleet = new Set(config.nodes.map((n) => n.name));
      const upgraded = upgradedNodes(state, config.targetRelease);
      const nodes = upgraded.filter((n) => fleet.has(n));
      for (const provisioned of upgraded.filter((n) => !fleet.has(n))) {
        say(
          `[driver] ${provisioned} is a provisioned NEW NODE: rollback leaves it as it is; detach it from the target group by hand if needed`,
        );
      }
      if (nodes.length === 0) {
        say(`[driver] no node was upgraded to ${config.targetRelease}: nothing to roll back`);
        return 0;
      }
      say(
        `[driver] rolling back ${nodes.join(", ")} to ${config.rollbackTo.release}, one at a time; no database step runs`,
      );
      say(
        `[driver] ${await restoreAfterFailure(settingRecord(state), config, stackConfig.adminPassword, log)}`,
      );
      const rollback = await openStack(defaultLocation(options.stack, options.workDir), files, {
        program: () => rollbackProgram(nodes),
      });
      const progress = followProgress(files.progress, (line) => say(`  ${line}`));
      try {
        await rollback.stack.up({ onOutput: engineOutputPrinter(), color: "never" });
      } finally {
        progress.stop();
      }
      say(
        `[driver] rolled back: ${nodes.join(", ")} run ${config.rollbackTo.release}; the schema stays expanded, not contracted`,
      );
      return 0;
    }
    case "approve": {
      const config = await stackConfig.config();
      await stack.setConfig("glance-rolling-upgrade:approvedRelease", { value: config.targetRelease });
      say(
        `[driver] approved ${config.targetRelease} past the checkpoint: the next \`up\` continues the upgrade`,
      );
      return 0;
    }
    case "refresh": {
      await stack.refresh({ onOutput: engineOutputPrinter(), color: "never" });
      return 0;
    }
    case "destroy": {
      await stack.destroy({ onOutput: engineOutputPrinter(), color: "never" });
      say("destroy: the stack's step records are gone; no node, load balancer or database was changed by it");
      return 0;
    }
    case "report": {
      const outputs = await stack.outputs();
      const summary = outputs.summary?.value as Summary | undefined;
      if (!summary) {
        say(`stack ${options.stack} has no completed upgrade to report`);
        return EXIT_FAILED;
      }
      say(renderSummary(summary));
      return 0;
    }
  }
}

/** The engine's lock refusal: "the stack is currently locked by N lock(s)" and who holds each. */
function lockHolders(error: ConcurrentUpdateError): string {
  const lines = error.message.split("\n");
  const start = lines.findIndex((l) => l.includes("the stack is currently locked by"));
  if (start < 0) return "the stack is locked by another run";
  const count = /locked by (\d+) lock/.exec(lines[start])?.[1] ?? "1";
  const holders = new Set(
    lines
      .slice(start + 1)
      .filter((l) => /created by /.test(l))
      .map((l) => `  ${l.replace(/^.*: created by /, "held by ")}`),
  );
  return [`the stack is locked by ${count} other run(s)`, ...holders].join("\n");
}

function firstLines(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // The Automation API's message repeats the whole engine output; keep the diagnostics.
  const diagnostics = text.indexOf("Diagnostics:");
  return (diagnostics >= 0 ? text.slice(diagnostics) : text).split("\n").slice(0, 40).join("\n");
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  try {
    process.exitCode = await run(options);
  } catch (error) {
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
