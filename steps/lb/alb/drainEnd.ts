/**
 * When an ALB drain may end (issue 32, item 2). AWS keeps a deregistered target `draining` for the
 * group's whole deregistration delay even when it completed deregistration at once internally, so
 * waiting for `draining` to end waits the delay on every node whatever is in flight. The node itself
 * sees its connections: the drain ends at the first time t with both
 * - t >= T0 + P: T0 is when DeregisterTargets answered (a rerun that finds the target already
 *   `draining` takes its own start), P the `propagationSeconds` the ALB may still route new requests
 *   to the target after it (an assumption about AWS, which documents no bound: eventual consistency);
 * - two connection readings at least MIN_IDLE_SPAN_MS apart, both taken at or after T0 + P, with
 *   nothing between them, find no connection that may carry work on the node's traffic port
 *   (steps/node/scripts.ts WORK_STATES: a held download, an upload, an idle keep-alive all count).
 * Otherwise it ends when the target leaves `draining` (the delay is over), and fails at the timeout.
 * A reading that failed (undefined) is never idle: the drain then waits for `draining` to end.
 *
 * Pure: time comes in as numbers (ms since the epoch), so a case table tests it.
 */

/** Two idle readings must span at least this: a connection opened between them is seen by the second. */
export const MIN_IDLE_SPAN_MS = 250;

/** One look at the draining target. */
export interface DrainObservation {
  /** When the look was taken (both readings at once, as far as the rule is concerned). */
  nowMs: number;
  /**
   * The target as the target group shows it: `draining`; `gone` (`unused`, or no longer listed); or
   * `in-rotation` (registered again by someone else meanwhile: never idle, the drain waits).
   */
  target: "draining" | "gone" | "in-rotation";
  /** Established connections on the node's traffic port; undefined when they could not be read. */
  connections: number | undefined;
}

export interface DrainRule {
  /** T0: DeregisterTargets answered (or the rerun started on a target already draining). */
  startMs: number;
  /** P, in ms. */
  propagationMs: number;
  /** The drain fails at this time (its start + drainTimeoutSeconds). */
  deadlineMs: number;
}

/** What the rule carries from one look to the next: the first idle reading of the current idle run. */
export interface DrainMemory {
  idleSinceMs?: number;
}

export type DrainVerdict =
  | { end: "wait"; memory: DrainMemory }
  | { end: "idle"; idleAtMs: number }
  | { end: "unused" }
  | { end: "timeout" };

export function drainStep(rule: DrainRule, memory: DrainMemory, look: DrainObservation): DrainVerdict {
  if (look.target === "gone") return { end: "unused" };
  const settled = look.nowMs >= rule.startMs + rule.propagationMs;
  const idleNow = settled && look.target === "draining" && look.connections === 0;
  if (idleNow) {
    const since = memory.idleSinceMs ?? look.nowMs;
    if (look.nowMs - since >= MIN_IDLE_SPAN_MS) return { end: "idle", idleAtMs: since };
    if (look.nowMs >= rule.deadlineMs) return { end: "timeout" };
    return { end: "wait", memory: { idleSinceMs: since } };
  }
  if (look.nowMs >= rule.deadlineMs) return { end: "timeout" };
  return { end: "wait", memory: {} };
}
