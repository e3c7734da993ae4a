import type { Deployment } from "@pulumi/pulumi/automation";

/** What a step resource records in its outputs (resources/step.ts), as far as the driver reads it. */
export interface StepOutputs {
  step?: string;
  release?: string;
  startedAt?: string;
  /** What the step returned, as the state holds it (null where it recorded none). */
  result?: Record<string, unknown> | null;
}

/** One resource of a state export, typed for the driver. */
export interface StepRecord {
  urn: string;
  /** The resource's type token (`pulumi-nodejs:dynamic:Resource`, `command:local:Command`, ...). */
  type?: string;
  /** The resource's name, the last part of its URN: the step id for every step, whatever ran it. */
  name: string;
  /** The step id the step recorded itself (only the project's own steps record one). */
  step?: string;
  /** The release the step ran for (only the project's own steps record one). */
  release?: string;
  outputs: StepOutputs;
}

export interface PendingOperation {
  resource: { urn: string };
  type: string;
}

/** The part of a state export's `deployment` the driver reads; the rest is passed through unchanged. */
interface DeploymentBody {
  resources?: Array<{ urn: string; type?: string; outputs?: Record<string, unknown> }>;
  pending_operations?: PendingOperation[];
}

const body = (deployment: Deployment) => deployment.deployment as DeploymentBody;
const text = (value: unknown) => (typeof value === "string" ? value : undefined);

/** The name in a URN (`urn:pulumi:...::node-2/drain` -> `node-2/drain`). */
export function urnName(urn: string): string {
  return urn.split("::").at(-1) ?? urn;
}

/** Every resource of the state, in state order. */
export function stepRecords(deployment: Deployment): StepRecord[] {
  return (body(deployment).resources ?? []).map(({ urn, type, outputs = {} }) => {
    const typed: StepOutputs = {
      step: text(outputs.step),
      release: text(outputs.release),
      startedAt: text(outputs.startedAt),
      result: outputs.result as StepOutputs["result"],
    };
    return { urn, type, name: urnName(urn), step: typed.step, release: typed.release, outputs: typed };
  });
}

/** The project's components (`glance:...`) and the engine's own resources (`pulumi:...`): no step. */
const isStep = (record: StepRecord) =>
  !(record.type?.startsWith("glance:") || record.type?.startsWith("pulumi:"));

/**
 * The step named `id`. A component may share its step's name, and comes first in the state: the
 * `preflight` component holds the `preflight` step.
 */
export function recordNamed(records: readonly StepRecord[], id: string): StepRecord | undefined {
  return records.find((record) => record.name === id && isStep(record));
}

/** The steps that finished for `release`, by step id, with their URN. */
export function finishedSteps(deployment: Deployment, release: string): Map<string, string> {
  const steps = new Map<string, string>();
  for (const record of stepRecords(deployment)) {
    if (record.step && record.release === release) steps.set(record.step, record.urn);
  }
  return steps;
}

/** The operations a killed run left pending. */
export function pendingOperations(deployment: Deployment): PendingOperation[] {
  return body(deployment).pending_operations ?? [];
}

/** The same state without pending operations. */
export function withoutPendingOperations(deployment: Deployment): Deployment {
  return { ...deployment, deployment: { ...body(deployment), pending_operations: [] } };
}
