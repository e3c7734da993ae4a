/**
 * A clock for the steps' waits (steps/context.ts, `clock`) that only moves when a wait sleeps: a
 * timeout of minutes runs its decisions in milliseconds, the same way every time.
 */
import type { Clock } from "../../../steps/context";

export class FakeClock implements Clock {
  private readonly start: number;
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[] = [];
  /** Called after each sleep with the seconds elapsed since the clock was made. */
  onAdvance: (elapsedSeconds: number) => void = () => undefined;

  constructor(private t = Date.UTC(2026, 10, 26, 10, 0, 0)) {
    this.start = t;
  }

  now(): number {
    return this.t;
  }

  /** Seconds since the clock was made. */
  elapsed(): number {
    return (this.t - this.start) / 1000;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    this.onAdvance(this.elapsed());
    // Let other promise callbacks run, as a real sleep would.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
