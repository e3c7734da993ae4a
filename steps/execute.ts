import { runStep, StepRequest, StepSecrets } from "./dispatch";
import { recordStep } from "./record";

/** A step resource's inputs, as the provider receives them. */
export interface StepInputs {
  step: string;
  kind: string;
  node?: string | null;
  release: string;
  request: StepRequest;
  secrets?: StepSecrets;
}

/** Runs a step with progress and timeline records; returns its outputs (never its secrets). */
export async function executeStep(inputs: StepInputs): Promise<Record<string, unknown>> {
  const { secrets, ...identity } = inputs;
  const run = await recordStep(
    { step: inputs.step, kind: inputs.kind, node: inputs.node ?? undefined, release: inputs.release },
    (ctx) => runStep(inputs.request, secrets ?? {}, ctx),
  );
  return {
    ...identity,
    result: run.result,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    seconds: run.seconds,
  };
}
