import * as pulumi from "@pulumi/pulumi";
import { StepResource } from "../resources/step";
import type { StepRequest, StepSecrets } from "../steps/protocol";
import type { NodeUnit } from "../steps/identity";
import { stepIdentity } from "../plan/identity";
import type { SECRET_KEYS } from "../plan/config";
import { UpgradeContext } from "./context";

/** A stack secret a step may be given, by its config key. */
export type SecretName = (typeof SECRET_KEYS)[number];

/** A typed step (load balancer, database, health, backup): a StepResource with only the secrets it needs. */
export function typedStep(
  ctx: UpgradeContext,
  name: string,
  args: {
    kind: string;
    node?: string;
    /** A node step's unit (plan/identity.ts). */
    unit?: pulumi.Input<NodeUnit>;
    request: pulumi.Input<StepRequest>;
    secrets?: SecretName[];
  },
  opts: pulumi.CustomResourceOptions,
): StepResource {
  const wanted = args.secrets ?? [];
  const secrets =
    wanted.length === 0
      ? undefined
      : pulumi.all(wanted.map((secretName) => ctx.secrets[secretName])).apply((values) => {
          const picked: StepSecrets = {};
          wanted.forEach((secretName, i) => {
            const value = values[i];
            if (value !== undefined) picked[secretName] = value;
          });
          return picked;
        });
  return new StepResource(
    name,
    {
      step: name,
      kind: args.kind,
      node: args.node,
      release: ctx.config.targetRelease,
      identity: pulumi.output(args.unit).apply((unit) => stepIdentity(ctx.config, name, unit)),
      request: args.request,
      secrets,
    },
    opts,
  );
}
