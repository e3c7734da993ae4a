import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import type { StepIdentity } from "../steps/identity";
import type { StepRequest, StepSecrets, StoredResult } from "../steps/protocol";
import { stepsEntry } from "./stepsEntry";

/**
 * The compiled steps library the provider loads at run time. The provider text below names only
 * this path and delegates to the module: nothing of the library goes into the state.
 */
const STEPS_ENTRY = stepsEntry(path.join(__dirname, ".."));

/**
 * The steps' dynamic provider, as the module text the SDK's provider host loads from every step
 * resource's `__provider` input (`require-from-string`, then `exports.handler()`): four one-line
 * delegates to the compiled steps module. `pulumi.dynamic.Resource` would build an equivalent text
 * at every run with the SDK's closure serializer, which opens a V8 inspector session over every
 * loaded script and parses the functions with TypeScript: 0.3-0.7 s of the driver's CPU before the
 * engine sees the first resource, for a text that never changes. Same type token, same provider
 * host, same methods; `delete` changes nothing outside the state.
 */
export const STEP_PROVIDER_SOURCE = [
  `const entry = ${JSON.stringify(STEPS_ENTRY)};`,
  "const methods = () => require(entry).stepProviderMethods;",
  "exports.handler = () => ({",
  "  diff: (id, olds, news) => methods().diff(id, olds, news),",
  "  create: (inputs) => methods().create(inputs),",
  "  update: (id, olds, news) => methods().update(id, olds, news),",
  "  delete: async () => undefined,",
  "});",
].join("\n");

/** The resource type the SDK's dynamic provider host serves (`pulumi.dynamic.Resource`'s own). */
const DYNAMIC_RESOURCE_TYPE = "pulumi-nodejs:dynamic:Resource";

export interface StepResourceArgs {
  /** The runbook name, e.g. `node-2/drain`. */
  step: string;
  kind: string;
  node?: string;
  release: pulumi.Input<string>;
  /** What makes it the same step: only a change here runs a finished step again (plan/identity.ts). */
  identity: pulumi.Input<StepIdentity>;
  request: pulumi.Input<StepRequest>;
  /** Passed as a Pulumi secret; never in outputs. */
  secrets?: pulumi.Input<StepSecrets>;
}

/** A step of the upgrade, run by the project's own dynamic provider. */
export class StepResource extends pulumi.CustomResource {
  /** As the state holds it (this version's or an older one's): read it with steps/results.ts's readAs. */
  declare readonly result: pulumi.Output<StoredResult>;
  declare readonly startedAt: pulumi.Output<string>;
  declare readonly endedAt: pulumi.Output<string>;
  declare readonly seconds: pulumi.Output<number>;

  constructor(name: string, args: StepResourceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      DYNAMIC_RESOURCE_TYPE,
      name,
      {
        __provider: STEP_PROVIDER_SOURCE,
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
