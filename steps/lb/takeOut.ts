/**
 * Taking a node out of rotation without going below minHealthy when a wave drains several at once.
 * Checking capacity and then leaving is a race: two drains of a wave both read the fleet before
 * either leaves, both see enough, and both leave. So a take-out
 * 1. runs under a lock per load balancer in this process (the provider runs a wave's drains in one
 *    process): one drain reads, decides and leaves before the next one reads;
 * 2. reads the fleet again once the node has left, and if fewer than minHealthy others serve (a
 *    drain from elsewhere, another process, a node that just failed) puts it back and refuses.
 * The lock makes the common case deterministic (the first drain goes, the second refuses with
 * nothing changed); the check after leaving is what holds across processes and operators.
 */
import { StepError } from "../context";
import type { CapacityDecision } from "./capacity";

/**
 * A drain refused for capacity. Without `leftChanged` the node is in rotation (left alone, or put
 * back); with it, putting it back failed and it says where the node was left.
 */
export class CapacityRefusal extends StepError {
  constructor(
    message: string,
    readonly decision: CapacityDecision,
    leftChanged?: string,
  ) {
    super(message, leftChanged);
  }
}

const tails = new Map<string, Promise<unknown>>();

/** Runs `action` after every earlier action on the same `key` in this process has settled. */
export async function withFleetLock<T>(key: string, action: () => Promise<T>): Promise<T> {
  const before = tails.get(key) ?? Promise.resolve();
  const run = before.then(action, action);
  const tail = run.catch(() => undefined);
  tails.set(key, tail);
  try {
    return await run;
  } finally {
    if (tails.get(key) === tail) tails.delete(key);
  }
}

/**
 * Which of the decisions on every view of the fleet (one per HAProxy instance; one for an ALB)
 * counts: the first that refuses, or else the one that leaves the fewest serving.
 */
export function worstDecision(decisions: CapacityDecision[]): number {
  const refused = decisions.findIndex((d) => !d.mayLeave);
  if (refused >= 0) return refused;
  return decisions.reduce(
    (best, d, i) => (d.servingOthers.length < decisions[best].servingOthers.length ? i : best),
    0,
  );
}
