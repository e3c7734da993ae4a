/**
 * Health gates: wait until a node's health URL answers 200.
 */
import { clockOf, pollUntil, type StepContext } from "./context";

const DEFAULT_INTERVAL_MS = 200;
/** A single probe never waits longer than this, so one hung request cannot eat the whole budget. */
const MAX_REQUEST_TIMEOUT_MS = 5_000;
const MIN_REQUEST_TIMEOUT_MS = 250;

export async function waitHealthy(
  args: { url: string; timeoutSeconds: number; intervalMs?: number },
  ctx: StepContext,
): Promise<{ seconds: number }> {
  const clock = clockOf(ctx);
  const started = clock.now();
  const deadline = started + args.timeoutSeconds * 1000;
  let last = "no answer yet";
  let probes = 0;
  ctx.log(`waiting for ${args.url} to answer 200 (up to ${args.timeoutSeconds} s)`);

  const probe = async (): Promise<true | undefined> => {
    probes += 1;
    const requestTimeoutMs = Math.min(
      MAX_REQUEST_TIMEOUT_MS,
      Math.max(MIN_REQUEST_TIMEOUT_MS, deadline - clock.now()),
    );
    const signals = [AbortSignal.timeout(requestTimeoutMs), ...(ctx.signal ? [ctx.signal] : [])];
    let now: string;
    try {
      const response = await fetch(args.url, { signal: AbortSignal.any(signals), redirect: "manual" });
      await response.body?.cancel();
      if (response.status === 200) return true;
      now = `HTTP ${response.status}`;
    } catch (err) {
      now = describeFetchError(err, requestTimeoutMs);
    }
    if (now !== last) ctx.log(`${args.url}: ${now}`);
    last = now;
    return undefined;
  };

  await pollUntil(probe, {
    timeoutMs: args.timeoutSeconds * 1000,
    intervalMs: args.intervalMs ?? DEFAULT_INTERVAL_MS,
    signal: ctx.signal,
    clock,
    timeoutReason: "HealthCheckFailed",
    describe: () =>
      `${args.url} never answered 200 (${probes} probes; last: ${last}). ` +
      `Check the service's log on the node and that it listens where the health URL points.`,
  });
  const seconds = (clock.now() - started) / 1000;
  ctx.log(`${args.url}: healthy after ${seconds.toFixed(2)} s`);
  return { seconds };
}

function describeFetchError(err: unknown, requestTimeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return `no response within ${requestTimeoutMs} ms`;
    if (err.name === "AbortError") return "cancelled";
    // undici puts the system error (ECONNREFUSED ...) in `cause`.
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      return typeof code === "string" ? `${code} (${cause.message})` : cause.message;
    }
    return err.message;
  }
  return String(err);
}
