/**
 * A failed step's reason, beside its message. The code that throws names the reason where it knows
 * it (a script's exit code or timeout, a health check that never passed, a capacity refusal);
 * otherwise the step's kind and its bound decide: a drain that failed once its drainTimeoutSeconds
 * had passed failed because its requests did not end in time.
 */
import { StepError } from "./context";
import type { FailureReason } from "./failureReason";
import { CapacityRefusal } from "./lb/takeOut";
import type { StepRequest } from "./protocol";

export interface StepFailure {
  /** A short code a summary or a live view matches on (steps/failureReason.ts). */
  reason: FailureReason;
  /** What happened and what to do, for the operator. */
  message: string;
}

/** The reason of a failure nothing named, by the request's kind (and, for a wait, its bound). */
function reasonByKind(request: StepRequest, seconds: number): FailureReason {
  switch (request.kind) {
    case "preflight":
      return "PreflightFailed";
    case "backup-mysqldump":
    case "backup-rds":
      return "BackupFailed";
    case "drain":
      return seconds >= request.drainTimeoutSeconds ? "DrainTimeout" : "DrainFailed";
    case "admit":
      return seconds >= request.healthTimeoutSeconds ? "HealthCheckFailed" : "AdmitFailed";
    case "bake":
      return "BakeFailed";
    case "fleet-verify":
      return "FleetCheckFailed";
    case "allow-functions":
    case "restore-setting":
      return "SettingFailed";
    case "script":
      return "ScriptFailed";
  }
}

/**
 * Why `error` failed the step `request` asked for, `seconds` after the step started. A step error's
 * own reason comes first, then a capacity refusal, then the step's kind.
 */
export function failureOf(request: StepRequest, error: unknown, seconds: number): StepFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof StepError && error.reason !== undefined) return { reason: error.reason, message };
  if (error instanceof CapacityRefusal) return { reason: "CapacityBelowFloor", message };
  return { reason: reasonByKind(request, seconds), message };
}
