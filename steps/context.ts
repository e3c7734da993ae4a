/**
 * What every step receives besides its own arguments: a progress logger and a clock.
 * Steps are plain async functions (no Pulumi imports); the dynamic providers in `resources/`
 * and the benchmarks' plain-script floor call them the same way.
 */
import type { FailureReason } from "./failureReason";

export interface StepContext {
  /** One progress line per state change; the caller adds the step name and elapsed time. */
  log(message: string): void;
  /** Cancels long waits (drain, health) when the caller gives up. */
  signal?: AbortSignal;
  /**
   * What the waits read the time from and sleep on (drain, admit, bake and health timeouts); absent:
   * the real one. A test passes a fake clock to run a timeout's decisions without waiting for it.
   */
  clock?: Clock;
}

/** The time a step's waits go by (Kubernetes' `nowFn`, with the sleep beside it). */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The context's clock, or the real one. */
export function clockOf(ctx: Pick<StepContext, "clock"> | undefined): Clock {
  return ctx?.clock ?? realClock;
}

export const silentContext: StepContext = { log: () => undefined };

/**
 * A step failure with an operator-facing message: what happened, and what to do about it; and, where
 * the code that throws knows it, the reason as a code (steps/failure.ts derives one otherwise).
 */
export class StepError extends Error {
  constructor(
    message: string,
    /** What the failure left changed, if anything (e.g. "server s1 left in DRAIN"). */
    readonly leftChanged?: string,
    readonly reason?: FailureReason,
  ) {
    super(message);
    this.name = "StepError";
  }
}

/** pollUntil's deadline passed: the only failure a caller may choose to go on after. */
export class WaitTimeout extends StepError {}

/**
 * Polls `probe` until it returns a value other than undefined, or the deadline passes (WaitTimeout).
 * A probe's own error is thrown as it is, never as a timeout.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  opts: {
    timeoutMs: number;
    intervalMs: number;
    signal?: AbortSignal;
    describe: () => string;
    /** Absent: the real clock. */
    clock?: Clock;
    /** The timeout's reason, when the caller knows what a timeout means (a health check that never passed). */
    timeoutReason?: FailureReason;
  },
): Promise<T> {
  const clock = opts.clock ?? realClock;
  const deadline = clock.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (opts.signal?.aborted)
      throw new StepError(`cancelled while waiting: ${opts.describe()}`, undefined, "Cancelled");
    if (clock.now() >= deadline) {
      throw new WaitTimeout(
        `timed out after ${(opts.timeoutMs / 1000).toFixed(1)} s: ${opts.describe()}`,
        undefined,
        opts.timeoutReason,
      );
    }
    await clock.sleep(Math.min(opts.intervalMs, Math.max(0, deadline - clock.now())));
  }
}
