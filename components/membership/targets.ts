import { ResolvedNode, UpgradeConfig } from "../../plan/config";
import type { DbRef, LbFleet, LbTarget } from "../../steps/protocol";
import { runtimeEndpointsOf } from "../../plan/haproxyRuntimeApis";
import type { SecretName } from "../typedStep";

type LbConfig = UpgradeConfig["loadBalancer"];
type AlbConfig = Extract<LbConfig, { type: "alb" }>;

/**
 * How one kind of load balancer finds a node and the fleet from the stack config. Methods, so that
 * each kind's entry takes its own config shape (the table below only hands it that shape).
 */
interface Membership<Config> {
  target(lb: Config, config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbTarget;
  fleet(lb: Config, config: UpgradeConfig, nodes: ResolvedNode[], extraTargetIds: string[]): LbFleet;
  secrets(lb: Config, config: UpgradeConfig): SecretName[];
}

/** Region and endpoint override of an ALB, left out when the config has none. */
function albRegion(lb: AlbConfig): { region?: string; endpoint?: string } {
  return { ...(lb.region ? { region: lb.region } : {}), ...(lb.endpoint ? { endpoint: lb.endpoint } : {}) };
}

// Key order matters: a step's request is compared as JSON, so a reordered key would rerun the step.
const membershipByKind: { [Type in LbConfig["type"]]: Membership<Extract<LbConfig, { type: Type }>> } = {
  haproxy: {
    target: (lb, config, node) => ({
      type: "haproxy",
      runtimeApis: runtimeEndpointsOf(lb, config),
      backend: lb.backend,
      server: node.haproxyServer,
    }),
    fleet: (lb, config, nodes) => ({
      type: "haproxy",
      runtimeApis: runtimeEndpointsOf(lb, config),
      backend: lb.backend,
      expected: nodes.map((n) => n.haproxyServer),
    }),
    // The SSH key, when a runtime API is reached over SSH.
    secrets: (lb, config) =>
      runtimeEndpointsOf(lb, config).some((endpoint) => typeof endpoint !== "string")
        ? ["sshPrivateKey"]
        : [],
  },
  alb: {
    target: (lb, _config, node, targetId) => ({
      type: "alb",
      targetGroupArn: lb.targetGroupArn,
      targetId: targetId ?? node.instanceId ?? node.address,
      port: lb.port,
      ...albRegion(lb),
    }),
    fleet: (lb, _config, nodes, extraTargetIds) => ({
      type: "alb",
      targetGroupArn: lb.targetGroupArn,
      expected: [...nodes.map((n) => n.instanceId ?? n.address), ...extraTargetIds],
      ...albRegion(lb),
    }),
    secrets: () => [],
  },
};

function membershipOf(lb: LbConfig): Membership<LbConfig> {
  return membershipByKind[lb.type];
}

/** The secrets a load-balancer step needs. */
export function lbStepSecrets(config: UpgradeConfig): SecretName[] {
  return membershipOf(config.loadBalancer).secrets(config.loadBalancer, config);
}

/**
 * The load-balancer membership of one node: an HAProxy server, or an ALB target (`targetId`, when
 * given, names it: a provisioned node's instance id).
 */
export function lbTargetFor(config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbTarget {
  return membershipOf(config.loadBalancer).target(config.loadBalancer, config, node, targetId);
}

/** The load balancer's expected membership: exactly these nodes (plus a provisioned target id). */
export function lbFleet(
  config: UpgradeConfig,
  nodes: ResolvedNode[],
  extraTargetIds: string[] = [],
): LbFleet {
  return membershipOf(config.loadBalancer).fleet(config.loadBalancer, config, nodes, extraTargetIds);
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
