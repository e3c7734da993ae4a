import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { StepContext } from "./context";
import { stepAbortSignal } from "./exec/reaper";

/** One line of the timeline a run records: when each step really started and ended. */
export interface TimelineEvent {
  event: "start" | "end" | "fail";
  step: string;
  kind: string;
  node?: string;
  release: string;
  at: string;
  seconds?: number;
  error?: string;
  /** A step's result, on its end event, when it is a small record (what a drain waited for, ...). */
  result?: unknown;
}

/** Results up to this size (as JSON) go into the timeline; larger ones (script output) stay in the state. */
const MAX_TIMELINE_RESULT_CHARS = 1_000;

function smallResult(result: unknown): unknown {
  try {
    const text = JSON.stringify(result);
    return text !== undefined && text.length <= MAX_TIMELINE_RESULT_CHARS ? result : undefined;
  } catch {
    return undefined;
  }
}

export interface StepMeta {
  step: string;
  kind: string;
  node?: string;
  release: string;
}

export interface StepTimes {
  startedAt: string;
  endedAt: string;
  seconds: number;
}

function append(file: string | undefined, value: unknown): void {
  if (!file) return;
  try {
    appendFileSync(file, `${JSON.stringify(value)}\n`);
  } catch {
    // The timeline is a record, never a reason to fail a step.
  }
}

/**
 * Runs one step with progress lines and timeline records. Files come from the environment the
 * driver gives the engine (GRU_TIMELINE_FILE, GRU_PROGRESS_FILE); progress also goes to stderr.
 */
export async function recordStep<T>(
  meta: StepMeta,
  run: (ctx: StepContext) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ result: T } & StepTimes> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const progress = (message: string) => {
    const line = `[${meta.step}] +${elapsed()}s ${message}`;
    // Under the driver, progress goes to its file (the driver prints it cleanly); under plain
    // `pulumi up`, stderr is where the engine shows a provider's lines.
    if (env.GRU_PROGRESS_FILE)
      append(env.GRU_PROGRESS_FILE, { at: new Date().toISOString(), step: meta.step, message: line });
    else process.stderr.write(`${line}\n`);
  };
  append(env.GRU_TIMELINE_FILE, { event: "start", ...meta, at: startedAt } satisfies TimelineEvent);
  progress("started");
  try {
    const result = await run({ log: progress, signal: stepAbortSignal() });
    const ended = Date.now();
    const seconds = (ended - started) / 1000;
    append(env.GRU_TIMELINE_FILE, {
      event: "end",
      ...meta,
      at: new Date(ended).toISOString(),
      seconds,
      result: smallResult(result),
    } satisfies TimelineEvent);
    progress("done");
    return { result, startedAt, endedAt: new Date(ended).toISOString(), seconds };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    append(env.GRU_TIMELINE_FILE, {
      event: "fail",
      ...meta,
      at: new Date().toISOString(),
      error: message,
    } satisfies TimelineEvent);
    progress(`FAILED: ${message}`);
    throw error;
  }
}

/** The timeline a run recorded (an absent file is an empty timeline). */
export function readTimeline(file: string): TimelineEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as TimelineEvent);
}
