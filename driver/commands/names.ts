/** The driver's commands and options: light, so the CLI can parse its arguments before loading the SDK. */
export const COMMAND_NAMES = [
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
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Options {
  command: CommandName;
  stack: string;
  workDir?: string;
  /** `up`, `rollback`: plain progress lines even on a terminal (`--plain`). */
  plain?: boolean;
  /** `up`, `rollback`: the engine's output and every step's log lines, not the live view (`--verbose`). */
  verbose?: boolean;
  /** `report`: write the report page too (`--html`). */
  html?: boolean;
}

export const EXIT_FAILED = 1;

/** The commands whose config (and, for `up`, state) reads start before the Stack handle is opened. */
export const EARLY_READS: Partial<Record<CommandName, { config: boolean; state: boolean }>> = {
  plan: { config: true, state: false },
  preview: { config: true, state: true },
  up: { config: true, state: true },
  rollback: { config: true, state: false },
};
