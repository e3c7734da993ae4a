import { ResolvedNode, UpgradeConfig } from "../../plan/config";
import { lbKindOf } from "../../plan/lb/registry";
import type { DbRef, LbFleet, LbTarget } from "../../steps/protocol";
import type { SecretName } from "../typedStep";

// The kind builds its requests (plan/lb/<kind>.ts); nothing here knows which kinds exist. A request
// is typed as a built-in kind's (steps/protocol.ts); a kind registered by a test is data the
// provider dispatches by its `type` all the same (steps/lb/registry.ts).

/** The secrets a load-balancer step needs. */
export function lbStepSecrets(config: UpgradeConfig): SecretName[] {
  const lb = config.loadBalancer;
  return lbKindOf(lb).secrets(lb, config);
}

/**
 * The load-balancer membership of one node, in its kind's shape (`targetId`, when given, names it:
 * a provisioned node's instance id).
 */
export function lbTargetFor(config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbTarget {
  const lb = config.loadBalancer;
  return lbKindOf(lb).target(lb, config, node, targetId) as LbTarget;
}

/** The load balancer's expected membership: exactly these nodes (plus a provisioned target id). */
export function lbFleet(
  config: UpgradeConfig,
  nodes: ResolvedNode[],
  extraTargetIds: string[] = [],
): LbFleet {
  const lb = config.loadBalancer;
  return lbKindOf(lb).fleet(lb, config, nodes, extraTargetIds) as LbFleet;
}

/** Where the bake's CloudWatch alarms are read: the load balancer's AWS region and endpoint, or none. */
export function lbAlarmsAt(config: UpgradeConfig): { region?: string; endpoint?: string } {
  const lb = config.loadBalancer;
  return lbKindOf(lb).alarmsAt(lb);
}

/**
 * How a NEW NODE the stack launches joins the load balancer; a kind that cannot take one is refused
 * by the config parser, so this throws only on a config that skipped it.
 */
export function lbProvisionedJoin(config: UpgradeConfig): { targetGroupArn: string; port: number } {
  const lb = config.loadBalancer;
  const join = lbKindOf(lb).provisionedJoin(lb);
  if (join === undefined) throw new Error(`a provisioned NEW NODE cannot join a ${lb.type} load balancer`);
  return join;
}

export function dbRef(config: UpgradeConfig): DbRef {
  const db = config.database;
  return {
    host: db.host,
    port: db.port,
    user: db.user,
    database: db.name,
    ssl: db.tls,
    ...(db.caFile ? { caFile: db.caFile } : {}),
  };
}
