import { ResolvedNode, UpgradeConfig } from "../config";
import type { DbRef, LbFleet, LbTarget } from "../../steps/dispatch";

/** The load-balancer membership of one node: an HAProxy server, or an ALB target. */
export function lbTargetFor(config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbTarget {
  const lb = config.loadBalancer;
  if (lb.type === "haproxy") {
    return { type: "haproxy", runtimeApi: lb.runtimeApi, backend: lb.backend, server: node.haproxyServer };
  }
  return {
    type: "alb",
    targetGroupArn: lb.targetGroupArn,
    targetId: targetId ?? node.instanceId ?? node.address,
    port: lb.port,
    ...(lb.region ? { region: lb.region } : {}),
    ...(lb.endpoint ? { endpoint: lb.endpoint } : {}),
  };
}

/** The load balancer's expected membership: exactly these nodes (plus a provisioned target id). */
export function lbFleet(
  config: UpgradeConfig,
  nodes: ResolvedNode[],
  extraTargetIds: string[] = [],
): LbFleet {
  const lb = config.loadBalancer;
  if (lb.type === "haproxy") {
    return {
      type: "haproxy",
      runtimeApi: lb.runtimeApi,
      backend: lb.backend,
      expected: nodes.map((n) => n.haproxyServer),
    };
  }
  return {
    type: "alb",
    targetGroupArn: lb.targetGroupArn,
    expected: [...nodes.map((n) => n.instanceId ?? n.address), ...extraTargetIds],
    ...(lb.region ? { region: lb.region } : {}),
    ...(lb.endpoint ? { endpoint: lb.endpoint } : {}),
  };
}

export function dbRef(config: UpgradeConfig): DbRef {
  const db = config.database;
  return { host: db.host, port: db.port, user: db.user, database: db.name, ssl: db.tls };
}
