import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import type { StepRequest, StepResult, StepSecrets } from "../steps/dispatch";
import type { StepInputs } from "../steps/execute";
import { stepsEntry } from "./stepsEntry";

/** The inputs that identify a step run; a change to any of them runs the step again (an update). */
const IDENTITY_KEYS = ["step", "kind", "node", "release", "request"] as const;

/**
 * The compiled steps library the provider loads at run time. Pulumi serializes a dynamic provider's
 * functions by value; capturing the whole library that way is brittle, so the provider captures only
 * this path and `require`s the module (DESIGN.md §5 notes what serialization handles).
 */
const STEPS_ENTRY = stepsEntry(path.join(__dirname, ".."));

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * One provider for every step. A step is an event: create runs it, a changed identity runs it again
 * as an update (cheaper than a replacement, DESIGN.md §5), and delete does nothing.
 */
export const stepProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: StepInputs, news: StepInputs) {
    const changed = IDENTITY_KEYS.filter((key) => !sameValue(olds[key] ?? null, news[key] ?? null));
    return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: StepInputs) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const steps = require(STEPS_ENTRY) as typeof import("../steps/execute");
    return { id: inputs.step, outs: await steps.executeStep(inputs) };
  },
  async update(_id: string, _olds: StepInputs, news: StepInputs) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const steps = require(STEPS_ENTRY) as typeof import("../steps/execute");
    return { outs: await steps.executeStep(news) };
  },
  async delete() {
    // A step is an event: there is nothing to tear down.
  },
};

export interface StepResourceArgs {
  /** The runbook name, e.g. `node-2/drain`. */
  step: string;
  kind: string;
  node?: string;
  release: pulumi.Input<string>;
  request: pulumi.Input<StepRequest>;
  /** Passed as a Pulumi secret; never in outputs. */
  secrets?: pulumi.Input<StepSecrets>;
}

/** A step of the upgrade, run by the project's own dynamic provider. */
export class StepResource extends pulumi.dynamic.Resource {
  declare readonly result: pulumi.Output<StepResult>;
  declare readonly startedAt: pulumi.Output<string>;
  declare readonly endedAt: pulumi.Output<string>;
  declare readonly seconds: pulumi.Output<number>;

  constructor(name: string, args: StepResourceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      stepProvider,
      name,
      {
        ...args,
        node: args.node ?? null,
        secrets: args.secrets === undefined ? undefined : pulumi.secret(args.secrets),
        result: undefined,
        startedAt: undefined,
        endedAt: undefined,
        seconds: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["secrets"] }),
    );
  }
}
