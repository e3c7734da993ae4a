import { runStep } from "./dispatch";
import { sameStep, type StepIdentity } from "./identity";
import { earlierResult } from "./earlierResult";
import type { StepRequest, StepSecrets, StoredResult } from "./protocol";
import { failureOf } from "./failure";
import { recordStep } from "./record";

/** A step resource's inputs, as the provider receives them. */
export interface StepInputs {
  step: string;
  kind: string;
  node?: string | null;
  release: string;
  /** Absent in a state written before step identities existed. */
  identity?: StepIdentity;
  request: StepRequest;
  secrets?: StepSecrets;
}

/** Runs a step with progress and timeline records; returns its outputs (never its secrets). */
export async function executeStep(
  inputs: StepInputs,
  earlier?: StoredResult,
): Promise<Record<string, unknown>> {
  const { secrets, ...recorded } = inputs;
  const run = await recordStep(
    { step: inputs.step, kind: inputs.kind, node: inputs.node ?? undefined, release: inputs.release },
    (ctx) => runStep(inputs.request, secrets ?? {}, ctx, earlier),
    process.env,
    (error, seconds) => failureOf(inputs.request, error, seconds),
  );
  return {
    ...recorded,
    result: run.result,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    seconds: run.seconds,
  };
}

/**
 * The dynamic provider's methods. The provider Pulumi serializes into every step's state only
 * delegates here, so each checkpoint carries a few bytes of code instead of the whole provider.
 * A step is an event: create runs it, a changed identity runs it again as an update, and delete does
 * nothing. Only the identity counts (steps/identity.ts): an edited request applies to the steps yet to
 * run, never re-runs a finished one, so a node's unit runs whole or not at all. An update is cheaper
 * than a replacement, which for a dynamic provider resource means a create of the new resource and a
 * delete of the old one: two engine operations for one run.
 */
export const stepProviderMethods = {
  async diff(_id: string, olds: StepInputs, news: StepInputs) {
    return { changes: !sameStep(olds, news), replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: StepInputs) {
    return { id: inputs.step, outs: await executeStep(inputs) };
  },
  async update(_id: string, olds: StepInputs, news: StepInputs) {
    return { outs: await executeStep(news, earlierResult(olds, news)) };
  },
};
