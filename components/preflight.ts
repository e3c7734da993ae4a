import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { buildNodeScript, scriptSpec } from "./exec";
import { dbRef, lbAlarmsAt, lbFleet } from "./membership";
import { SECRET_KEYS } from "../plan/config";
import { galeraMemberAddress } from "../plan/config/databaseSchema";
import { PREFLIGHT_STEP } from "../plan/stepIds";
import { lbKindOf } from "../plan/lb/registry";
import { typedStep } from "./typedStep";
import { StepResource } from "../resources/step";
import type { PreflightRequest } from "../steps/protocol";
import { readAs } from "../steps/results";

/** Reads everything the upgrade depends on (DB, privileges, load balancer, every node) and changes nothing. */
export class Preflight extends pulumi.ComponentResource {
  readonly step: StepResource;
  /** What every node reported before the upgrade, by node. */
  readonly versionsBefore: pulumi.Output<Record<string, string>>;

  constructor(
    name: string,
    args: { context: UpgradeContext; after: pulumi.Resource[] },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("glance:upgrade:Preflight", name, {}, opts);
    const { config } = args.context;
    const db = config.database;
    this.step = typedStep(
      args.context,
      PREFLIGHT_STEP,
      {
        kind: "preflight",
        // It reads everything: the database (both users) and every node.
        secrets: [...SECRET_KEYS],
        request: {
          kind: "preflight",
          db: dbRef(config),
          // Only when configured: a request without members is the one earlier states recorded.
          ...(db.galeraMembers ? { galeraMembers: db.galeraMembers.map(galeraMemberAddress) } : {}),
          adminUser: db.adminUser,
          rdsParameterGroup: db.rdsParameterGroup,
          lb: lbFleet(config, config.nodes),
          rollout: {
            drainTimeoutSeconds: config.loadBalancer.drainTimeoutSeconds,
            healthTimeoutSeconds: config.loadBalancer.healthTimeoutSeconds,
            // A drain that ends when the node is idle (ALB): judged by the lag, not by the delay.
            ...(lbKindOf(config.loadBalancer).drainIdle?.(config.loadBalancer) ?? {}),
            // The bake window, for a kind whose bake watches a health its settings time (ALB).
            ...(lbKindOf(config.loadBalancer).bakeBound?.(config.loadBalancer, config) ?? {}),
          },
          target: { release: config.targetRelease, version: config.targetVersion },
          ...alarmsOf(config),
          nodes: config.nodes.map((node) => ({
            name: node.name,
            healthUrl: node.healthUrl,
            version: scriptSpec(config, node, buildNodeScript("version", config, node), node.address),
          })),
        },
      },
      { parent: this, dependsOn: args.after },
    );
    this.versionsBefore = this.step.result.apply((r) => readAs("preflight", r).versionsBefore ?? {});
    this.registerOutputs({ versionsBefore: this.versionsBefore });
  }
}

/** The bake's CloudWatch alarms for the preflight to check (absent when there are none). */
function alarmsOf(config: UpgradeContext["config"]): { alarms?: PreflightRequest["alarms"] } {
  const names = config.bake.alarmNames;
  if (names.length === 0) return {};
  return { alarms: { names, ...lbAlarmsAt(config) } };
}
