/**
 * How a run's progress reaches the operator, in one of three modes:
 * - live (stdout is a terminal): the view (driver/view/render.ts) redrawn in place, every event and
 *   every second, with two ANSI sequences (cursor up, erase line); the driver's own lines go above it;
 * - plain (stdout is no terminal, or `--plain`): one line when each step starts and one when it
 *   ends or fails, no escape bytes (CI logs);
 * - verbose (`--verbose`): the engine's own output and every line each step logs, as before.
 * In every mode the run records keep each step's every line (progress.jsonl); outside verbose mode the
 * engine's output goes to engine.log beside them.
 */
import { appendFileSync, existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import type { RunFiles } from "../environment";
import type { RunProgress } from "../progress";
import { readTimeline } from "../../steps/record";
import type { StepEvent } from "../../steps/progress";
import { engineOutputPrinter, redirectSay, say } from "../commands/output";
import { renderView, ViewPlan } from "./render";

export type OutputMode = "live" | "plain" | "verbose";

export function outputMode(flags: { plain?: boolean; verbose?: boolean }, isTTY: boolean): OutputMode {
  if (flags.verbose) return "verbose";
  return flags.plain || !isTTY ? "plain" : "live";
}

/** Strips escape and other control bytes a step's message could carry (plain mode prints none). */
export function plainText(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

/** The line plain mode prints for an event: one for each start, end and failure, none for the rest. */
export function plainLine(event: StepEvent): string | undefined {
  if (event.step === "" || event.event === "progress" || event.message === undefined) return undefined;
  return `  ${plainText(event.message.split("\n").join(" "))}`;
}

/**
 * What redraws `lines` over the `drawn` lines drawn last: up to the first of them, each line erased
 * and written, then the rest of the screen below erased.
 */
export function redrawText(drawn: number, lines: readonly string[]): string {
  const up = drawn > 0 ? `\x1b[${drawn}A\r` : "";
  return `${up}${lines.map((line) => `\x1b[2K${line}\n`).join("")}\x1b[J`;
}

/** Seconds each step took in the stack's last run with a timeline (the run folder before `files.dir`). */
export function lastRunSeconds(files: RunFiles): Map<string, number> {
  const parent = path.dirname(files.dir);
  const seconds = new Map<string, number>();
  if (!existsSync(parent)) return seconds;
  const earlier = readdirSync(parent)
    .map((name) => path.join(parent, name))
    .filter((dir) => dir !== files.dir && existsSync(path.join(dir, "timeline.jsonl")))
    .sort();
  for (const dir of earlier.reverse()) {
    try {
      for (const event of readTimeline(path.join(dir, "timeline.jsonl")))
        if (event.event === "end" && typeof event.seconds === "number")
          seconds.set(event.step, event.seconds);
    } catch {
      // A timeline cut short is no estimate.
    }
    if (seconds.size > 0) return seconds;
  }
  return seconds;
}

/** The run's output while the engine runs: what gets the engine's output, and what ends it. */
export interface RunOutput {
  onOutput(text: string): void;
  stop(): void;
}

interface Terminal {
  write(text: string): unknown;
  columns?: number;
  rows?: number;
}

/** Follows the run's progress file into `progress` and shows it in `mode`. */
export function showRun(
  mode: OutputMode,
  files: RunFiles,
  progress: RunProgress,
  plan: ViewPlan,
  terminal: Terminal = process.stdout,
  now: () => number = Date.now,
): RunOutput {
  if (mode === "verbose") {
    const unsubscribe = progress.subscribe((event) => {
      if (event.message !== undefined) say(`  ${event.message}`);
    });
    const following = progress.follow(files.progress);
    return {
      onOutput: engineOutputPrinter(),
      stop() {
        following.stop();
        unsubscribe();
      },
    };
  }
  const engineLog = path.join(files.dir, "engine.log");
  const onOutput = (text: string) => {
    try {
      appendFileSync(engineLog, text);
    } catch {
      // The engine's output is a record, never a reason to stop a run.
    }
  };
  say(`engine output: ${engineLog} (--verbose prints it here)`);
  if (mode === "plain") {
    const unsubscribe = progress.subscribe((event) => {
      const line = plainLine(event);
      if (line !== undefined) say(line);
    });
    const following = progress.follow(files.progress);
    return {
      onOutput,
      stop() {
        following.stop();
        unsubscribe();
      },
    };
  }
  const startedAt = now();
  const lastSeconds = lastRunSeconds(files);
  let drawn = 0;
  const frame = () =>
    renderView({
      plan,
      records: progress.records,
      now: now(),
      startedAt,
      lastSeconds,
      // One column and one row spare: a full last column or row would scroll some terminals.
      columns: Math.max(20, (terminal.columns ?? 80) - 1),
      rows: Math.max(3, (terminal.rows ?? 24) - 1),
    });
  const draw = () => {
    const lines = frame();
    terminal.write(redrawText(drawn, lines));
    drawn = lines.length;
  };
  // The driver's own lines during the run go above the view, which is drawn again below them.
  const restoreSay = redirectSay((text) => {
    terminal.write(`${redrawText(drawn, [])}${text}`);
    drawn = 0;
    draw();
  });
  const unsubscribe = progress.subscribe(() => draw());
  const following = progress.follow(files.progress);
  const ticking = setInterval(draw, 1000);
  draw();
  return {
    onOutput,
    stop() {
      clearInterval(ticking);
      following.stop();
      unsubscribe();
      draw();
      restoreSay();
    },
  };
}
