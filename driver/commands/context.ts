import type { Deployment, Stack } from "@pulumi/pulumi/automation";
import { ConfigError, parseConfigEntries, UpgradeConfig } from "../../plan/config";
import { buildPlan, Plan } from "../../plan/plan";
import { RunFiles } from "../environment";
import { RunProgress } from "../progress";
import type { StepContext } from "../../steps/context";
import { configEntries, EarlyReads, exportedState } from "../site";
import { missingPlugins, OpenedStack, secretValue } from "../stack";
import type { Options } from "./names";
import { say } from "./output";

export { COMMAND_NAMES, EXIT_FAILED, type CommandName, type Options } from "./names";

/** What every command gets: its options, the run's files and the opened stack. */
export interface CommandContext {
  options: Options;
  files: RunFiles;
  opened: OpenedStack;
  stack: Stack;
  /** The driver's own log lines, `[driver] ...`. */
  log: StepContext;
  /** The stack's config, parsed once per run. */
  config(): Promise<UpgradeConfig>;
  /** The stack's state as the command started (secrets encrypted), read once per run. */
  initialState(): Promise<Deployment>;
  /** The admin password, decrypted once, and only by the commands that touch the MySQL setting. */
  adminPassword(): Promise<string | undefined>;
  /**
   * The run's step records as the steps' events arrive (`up` and `rollback` follow the progress file
   * into it): subscribe for every start, progress line, end and failure (a live view does).
   */
  progress: RunProgress;
}

export type CommandHandler = (context: CommandContext) => Promise<number>;

const ADMIN_PASSWORD_KEY = "glance-rolling-upgrade:dbAdminPassword";

/**
 * The stack's config is read from the CLI with secrets masked: validation needs only to know a
 * secret is set, and decrypting costs the secrets provider's key derivation (or a KMS call).
 */
export function commandContext(
  options: Options,
  files: RunFiles,
  opened: OpenedStack,
  early: EarlyReads = {},
): CommandContext {
  let config: Promise<UpgradeConfig> | undefined;
  let initialState: Promise<Deployment> | undefined;
  let adminPassword: Promise<string | undefined> | undefined;
  const readConfig = early.config ?? (() => configEntries(opened.site));
  const readState = early.state ?? (() => exportedState(opened.site));
  return {
    options,
    files,
    opened,
    stack: opened.stack,
    log: { log: (message: string) => say(`[driver] ${message}`) },
    config: () => (config ??= readConfig().then(parseConfigEntries)),
    initialState: () => (initialState ??= readState()),
    adminPassword: () => (adminPassword ??= secretValue(opened, ADMIN_PASSWORD_KEY)),
    progress: new RunProgress(),
  };
}

/** The plan, once the plugins the config needs are known to be installed. */
export async function validatedPlan(opened: OpenedStack, config: UpgradeConfig): Promise<Plan> {
  const missing = await missingPlugins(opened.workspace, config);
  if (missing.length > 0) {
    throw new ConfigError(missing.map((m) => `stack ${opened.stack.name}: ${m}`));
  }
  return buildPlan(config);
}
