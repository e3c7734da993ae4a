/**
 * One record of a step's progress, and the events that change it. The provider emits the events
 * (steps/record.ts: the run's timeline and progress files); the driver folds them into records as
 * they come (a live view subscribes to them); a finished step's record is kept in the stack's state
 * in a compact form (StoredOutcome), which the summary and `report` read back into the same record.
 * Pure: no Pulumi import.
 */
import type { StepFailure } from "./failure";
import { isFailureReason } from "./failureReason";
import { parseNodeStep } from "../plan/stepIds";
import { readResult, resultKindOfStepId, type TypedResult } from "./results";

export type { StepFailure };

/** Which step: its runbook id, its kind, its node, the release it belongs to. */
export interface StepMeta {
  step: string;
  kind: string;
  node?: string;
  release: string;
}

/**
 * One step's progress: what the timeline, the summary and a live view read. The release is absent
 * in a record read back from a state (the summary keeps none).
 */
export interface StepRecord extends Omit<StepMeta, "release"> {
  release?: string;
  status: "running" | "done" | "failed";
  startedAt: string;
  /** When it ended (done or failed). */
  endedAt?: string;
  seconds?: number;
  /** Its result under its kind (steps/results.ts): `record.result.drain?.drainSeconds`. */
  result: TypedResult;
  /** Why it failed, beside the message. */
  failure?: StepFailure;
  /** Its latest progress line, as printed. */
  lastMessage?: string;
}

/**
 * A change of a step's record, as the provider emits it. In the timeline file: start, end and fail
 * (as they always were, a fail now with its reason). In the progress file: every event, with the
 * line the driver prints in `message`.
 */
export interface StepEvent extends StepMeta {
  event: "start" | "progress" | "end" | "fail";
  at: string;
  /** On end and fail: seconds since the start. */
  seconds?: number;
  /** In the progress file: the line as printed (`[node-2/drain] +0.3s done`). */
  message?: string;
  /** On fail: the step's message. */
  error?: string;
  /** On fail: why (steps/failureReason.ts). Absent in a timeline written before reasons existed. */
  reason?: StepFailure["reason"];
  /** On end, when it is a small record: the step's result as the step returned it. */
  result?: unknown;
}

/** One line of the timeline a run records: when each step really started and ended. */
export type TimelineEvent = StepEvent & { event: "start" | "end" | "fail" };

/**
 * A finished step's record as the stack's state keeps it (the step resource's outputs, and the
 * upgrade's `summary` output by step id): this shape is what states written by every version hold.
 */
export interface StoredOutcome<R = unknown> {
  startedAt: string;
  endedAt: string;
  seconds: number;
  result: R;
}

/** The record after `event`; `record` is the step's record before it (undefined before its start). */
export function applyEvent(record: StepRecord | undefined, event: StepEvent): StepRecord | undefined {
  const meta: StepMeta = {
    step: event.step,
    kind: event.kind,
    ...(event.node === undefined ? {} : { node: event.node }),
    release: event.release,
  };
  switch (event.event) {
    case "start":
      return { ...meta, status: "running", startedAt: event.at, result: {} };
    case "progress":
      return record && { ...record, ...(event.message === undefined ? {} : { lastMessage: event.message }) };
    case "end":
      return {
        ...meta,
        status: "done",
        startedAt: record?.startedAt ?? event.at,
        endedAt: event.at,
        ...(event.seconds === undefined ? {} : { seconds: event.seconds }),
        // By its id: db/verify and fleet/verify share the kind `verify` and return different results.
        result: readResult(resultKindOfStepId(event.step) ?? event.kind, event.result),
        ...(event.message === undefined ? {} : { lastMessage: event.message }),
      };
    case "fail":
      return {
        ...meta,
        status: "failed",
        startedAt: record?.startedAt ?? event.at,
        endedAt: event.at,
        ...(event.seconds === undefined ? {} : { seconds: event.seconds }),
        result: {},
        failure: {
          reason: isFailureReason(event.reason) ? event.reason : "StepFailed",
          message: event.error ?? "",
        },
        ...(event.message === undefined ? {} : { lastMessage: event.message }),
      };
  }
}

/** Every step's record after `events`, in the order the steps started. */
export function recordsOf(events: readonly StepEvent[]): StepRecord[] {
  const records = new Map<string, StepRecord>();
  for (const event of events) {
    const next = applyEvent(records.get(event.step), event);
    if (next) records.set(event.step, next);
  }
  return [...records.values()];
}

/**
 * A finished step's record from what a state holds under its id (StoredOutcome, as any version
 * wrote it): its kind from its id, its result read as that kind's. Undefined for a step that never
 * ran (a resource with no times, such as a NEW NODE's instance).
 */
export function recordFromStored(step: string, stored: unknown): StepRecord | undefined {
  if (stored === null || typeof stored !== "object") return undefined;
  const { startedAt, endedAt, seconds, result } = stored as Partial<Record<keyof StoredOutcome, unknown>>;
  if (typeof startedAt !== "string" || startedAt === "") return undefined;
  const kind = resultKindOfStepId(step) ?? "";
  const node = parseNodeStep(step)?.node;
  return {
    step,
    kind,
    ...(node === undefined ? {} : { node }),
    status: "done",
    startedAt,
    ...(typeof endedAt === "string" && endedAt !== "" ? { endedAt } : {}),
    ...(typeof seconds === "number" ? { seconds } : {}),
    result: readResult(kind, result),
  };
}
