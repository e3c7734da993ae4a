/**
 * I7's record of `log_bin_trust_function_creators`: the value it had before a release's chain changed
 * it, read by the preflight (which runs before anything changes) and kept in the stack's state. The
 * steps and the driver that restore it take the previous value from this record, never from a read
 * made after a change: a re-run of db/allow-functions (after the driver set the value again to resume,
 * or after a run killed between its SET GLOBAL and the state write) reads the upgrade's own 1.
 */
import type { StoredResult } from "../protocol";

/** The preflight result's field: the value before this release's chain changed anything. */
export const TRUST_BEFORE_KEY = "trustFunctionCreatorsBefore";

/**
 * The value to record as "before": a preflight that runs again for the same release keeps the
 * first reading (its earlier result), since by then the chain (or the driver resuming it) may have
 * set 1. An earlier result written before this field existed still holds its own reading.
 */
export function trustBefore(reading: boolean, earlier: StoredResult | undefined): boolean {
  const kept = earlier?.[TRUST_BEFORE_KEY] ?? earlier?.trustFunctionCreators;
  return typeof kept === "boolean" ? kept : reading;
}

/** The recorded "before" value in a preflight result; undefined in a result written before it existed. */
export function recordedTrustBefore(
  preflight: Record<string, unknown> | null | undefined,
): boolean | undefined {
  const value = preflight?.[TRUST_BEFORE_KEY];
  return typeof value === "boolean" ? value : undefined;
}

export interface TrustRestore {
  /** The value to restore. */
  previous: boolean;
  /** This release's chain (or a run of it) may have changed the value: restore it. */
  changed: boolean;
  /** Where `previous` comes from: the preflight's record, or (older state) allow-functions' read. */
  from: "preflight" | "allow-functions";
}

/**
 * What to restore, from the preflight's record and db/allow-functions' result. allow-functions'
 * own `previous` is what it read when it ran: after a re-run that is the upgrade's 1, so it counts
 * only when the preflight recorded nothing (a state written before the record existed: today's
 * behaviour). A value that differs from the record when allow-functions read it was set by this
 * chain's earlier run, which only an admin credential can have done.
 */
export function trustRestore(args: {
  before: boolean | undefined;
  allow: { previous: boolean; changed: boolean };
  adminConfigured: boolean;
}): TrustRestore {
  const { before, allow, adminConfigured } = args;
  if (before === undefined)
    return { previous: allow.previous, changed: allow.changed, from: "allow-functions" };
  const setEarlier = adminConfigured && allow.previous !== before;
  return { previous: before, changed: allow.changed || setEarlier, from: "preflight" };
}

export const OLD_PREFLIGHT_NOTE =
  "the preflight in the state was recorded by an older version of this program, without " +
  `${TRUST_BEFORE_KEY}: log_bin_trust_function_creators is restored to what db/allow-functions read ` +
  "when it ran (as before); that is right unless allow-functions ran again after the value was set";
