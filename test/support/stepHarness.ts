/**
 * What a test needs around a step call: a context that keeps the step's progress lines, and the
 * StepError a step is expected to fail with.
 */
import { expect } from "vitest";
import { StepContext, StepError } from "../../steps/context";

/** A StepContext whose `lines` are every line the step logged, in order. */
export function recordingContext(): StepContext & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (message) => lines.push(message) };
}

/**
 * The StepError `promise` rejects with; fails the test if it succeeds or rejects with anything else.
 * For a step the test acts on while it runs, call this when the step starts and await it later: a
 * step that fails before anything handles its promise is an unhandled rejection, which fails the run.
 */
export async function stepFailure(promise: Promise<unknown>): Promise<StepError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(StepError);
    return err as StepError;
  }
  throw new Error("expected the step to fail, but it succeeded");
}
