import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import type { StepRequest, StepResult, StepSecrets } from "../steps/protocol";
import { stepsEntry } from "./stepsEntry";

/**
 * The compiled steps library the provider loads at run time. Pulumi serializes a dynamic provider's
 * functions by value; capturing the whole library that way is brittle and bloats every checkpoint,
 * so the provider captures only this path and delegates to the module.
 */
const STEPS_ENTRY = stepsEntry(path.join(__dirname, ".."));

type Methods = typeof import("../steps/execute").stepProviderMethods;

export const stepProvider: pulumi.dynamic.ResourceProvider = {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  diff: (id, olds, news) => (require(STEPS_ENTRY).stepProviderMethods as Methods).diff(id, olds, news),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  create: (inputs) => (require(STEPS_ENTRY).stepProviderMethods as Methods).create(inputs),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  update: (id, olds, news) => (require(STEPS_ENTRY).stepProviderMethods as Methods).update(id, olds, news),
  delete: async () => undefined,
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
