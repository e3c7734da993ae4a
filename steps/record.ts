import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { StepContext } from "./context";
import { stepAbortSignal } from "./exec/reaper";
import type { StepFailure } from "./failure";
import type { StepEvent, StepMeta, StoredOutcome, TimelineEvent } from "./progress";

export type { StepEvent, StepMeta, TimelineEvent } from "./progress";

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

function append(file: string | undefined, value: unknown): void {
  if (!file) return;
  try {
    appendFileSync(file, `${JSON.stringify(value)}\n`);
  } catch {
    // The timeline is a record, never a reason to fail a step.
  }
}

/** Why a failure nothing classified failed: the caller (steps/execute.ts) knows the request. */
const unclassified = (error: unknown): StepFailure => ({
  reason: "StepFailed",
  message: error instanceof Error ? error.message : String(error),
});

/**
 * Runs one step and emits its events (steps/progress.ts): start, a progress event per line it logs,
 * then end or fail. Files come from the environment the driver gives the engine: every event goes to
 * GRU_PROGRESS_FILE with the line the driver prints (without it, the line goes to stderr, where
 * plain `pulumi up` shows a provider's lines); start, end and fail go to GRU_TIMELINE_FILE.
 */
export async function recordStep<T>(
  meta: StepMeta,
  run: (ctx: StepContext) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
  classify: (error: unknown, seconds: number) => StepFailure = unclassified,
): Promise<StoredOutcome<T>> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const emit = (event: StepEvent, said: string) => {
    if (event.event !== "progress") append(env.GRU_TIMELINE_FILE, event);
    const line = `[${meta.step}] +${elapsed()}s ${said}`;
    if (env.GRU_PROGRESS_FILE) append(env.GRU_PROGRESS_FILE, { ...event, message: line });
    else process.stderr.write(`${line}\n`);
  };
  const at = () => new Date().toISOString();
  emit({ event: "start", ...meta, at: startedAt } satisfies TimelineEvent, "started");
  try {
    const result = await run({
      log: (message) => emit({ event: "progress", ...meta, at: at() }, message),
      signal: stepAbortSignal(),
    });
    const ended = Date.now();
    const seconds = (ended - started) / 1000;
    const endedAt = new Date(ended).toISOString();
    emit(
      { event: "end", ...meta, at: endedAt, seconds, result: smallResult(result) } satisfies TimelineEvent,
      "done",
    );
    return { result, startedAt, endedAt, seconds };
  } catch (error) {
    const seconds = (Date.now() - started) / 1000;
    const failure = classify(error, seconds);
    emit(
      {
        event: "fail",
        ...meta,
        at: at(),
        seconds,
        error: failure.message,
        reason: failure.reason,
      } satisfies TimelineEvent,
      `FAILED: ${failure.message}`,
    );
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
