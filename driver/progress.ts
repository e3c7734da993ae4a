import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { applyEvent, type StepEvent, type StepRecord } from "../steps/progress";

/** Called for every event of a run, with the step's record after it (undefined for a line with no step). */
export type ProgressListener = (event: StepEvent, record: StepRecord | undefined) => void;

/**
 * A run's progress as the driver sees it: the steps' events as the provider emits them (its progress
 * file), folded into one record per step (steps/progress.ts), the same record the summary reads back
 * from the state. The driver prints each event's line; a live view subscribes the same way.
 */
export class RunProgress {
  private readonly byStep = new Map<string, StepRecord>();
  private readonly listeners = new Set<ProgressListener>();

  /** Every step's record so far, by step id, in the order the steps started. */
  get records(): ReadonlyMap<string, StepRecord> {
    return this.byStep;
  }

  /** Calls `listener` for every event from now on; returns what unsubscribes it. */
  subscribe(listener: ProgressListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes one event: updates its step's record, then tells every listener. */
  accept(event: StepEvent): void {
    const record = event.step === "" ? undefined : applyEvent(this.byStep.get(event.step), event);
    if (record) this.byStep.set(event.step, record);
    for (const listener of this.listeners) listener(event, record);
  }

  /** Follows a progress file as the provider appends to it; `stop` reads what is left and stops. */
  follow(file: string, intervalMs = 200): { stop(): void } {
    let offset = 0;
    let pending = "";
    const drain = () => {
      if (!existsSync(file)) return;
      const size = statSync(file).size;
      if (size <= offset) return;
      const fd = openSync(file, "r");
      try {
        const buffer = Buffer.alloc(size - offset);
        readSync(fd, buffer, 0, buffer.length, offset);
        offset = size;
        pending += buffer.toString("utf8");
      } finally {
        closeSync(fd);
      }
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) this.accept(progressEvent(line));
    };
    const timer = setInterval(drain, intervalMs);
    return {
      stop() {
        clearInterval(timer);
        drain();
      },
    };
  }
}

/**
 * One line of a progress file as an event. A line written before progress lines carried their event
 * (`{at, step, message}` only) is a progress line of its step; a line that is no JSON is printed as is.
 */
export function progressEvent(line: string): StepEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { event: "progress", step: "", kind: "", release: "", at: "", message: line };
  }
  const fields = (parsed !== null && typeof parsed === "object" ? parsed : {}) as Partial<StepEvent>;
  const events: ReadonlyArray<StepEvent["event"]> = ["start", "progress", "end", "fail"];
  return {
    ...fields,
    event: fields.event !== undefined && events.includes(fields.event) ? fields.event : "progress",
    step: typeof fields.step === "string" ? fields.step : "",
    kind: typeof fields.kind === "string" ? fields.kind : "",
    release: typeof fields.release === "string" ? fields.release : "",
    at: typeof fields.at === "string" ? fields.at : "",
    message: typeof fields.message === "string" ? fields.message : line,
  };
}

/**
 * Follows the steps' progress file into `progress` and prints each new line as it appears; `stop`
 * reads what is left, then stops following and printing.
 */
export function followProgress(
  file: string,
  print: (line: string) => void,
  progress: RunProgress = new RunProgress(),
  intervalMs = 200,
): { stop(): void } {
  const unsubscribe = progress.subscribe((event) => {
    if (event.message !== undefined) print(event.message);
  });
  const following = progress.follow(file, intervalMs);
  return {
    stop() {
      following.stop();
      unsubscribe();
    },
  };
}
