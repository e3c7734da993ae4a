/**
 * Why a step failed, as a short code beside its message (Kubernetes' deployment conditions carry a
 * `reason` such as ProgressDeadlineExceeded beside their `message`): the message tells an operator
 * what happened and what to do; the reason is what a summary, a live view or a script matches on.
 * A leaf module (no imports), so the step error and the records can both name the codes.
 */
export const FAILURE_REASONS = [
  /** A precondition did not hold; nothing was changed. */
  "PreflightFailed",
  /** The database backup could not be taken (or found). */
  "BackupFailed",
  /** Taking the node out would leave fewer than minHealthy others serving; it stayed in rotation. */
  "CapacityBelowFloor",
  /** The node's in-flight requests did not end within drainTimeoutSeconds. */
  "DrainTimeout",
  /** The drain failed for another reason (the load balancer could not be read or changed). */
  "DrainFailed",
  /** Image imports on the node were still running when importDrainTimeoutSeconds ran out. */
  "ImportsStillRunning",
  /** A node script exited with a code it must not. */
  "ScriptFailed",
  /** A node script ran past its timeout and was stopped. */
  "ScriptTimeout",
  /** The node could not be reached over SSH (connection, authentication, host key). */
  "SshFailed",
  /** The node's health URL (or the load balancer's health check) never passed in time. */
  "HealthCheckFailed",
  /** The node could not be put back in rotation for another reason. */
  "AdmitFailed",
  /** The bake saw errors over its budget, an unhealthy node or an alarm. */
  "BakeFailed",
  /** A node does not report the target version (fleet/verify). */
  "VersionMismatch",
  /** The load balancer does not hold exactly the upgraded fleet, all healthy. */
  "FleetCheckFailed",
  /** log_bin_trust_function_creators could not be read, set or restored. */
  "SettingFailed",
  /** The step was cancelled (the run was interrupted). */
  "Cancelled",
  /** Any other failure: the message says what it was. */
  "StepFailed",
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === "string" && (FAILURE_REASONS as readonly string[]).includes(value);
}
