import { ResolvedNode, UpgradeConfig } from "../config";
import type { DbRef, LbFleet, LbTarget } from "../../steps/dispatch";
import { RuntimeEndpoint, runtimeEndpointLabel } from "../../steps/lb/haproxyEndpoints";
import type { SecretName } from "../typedStep";

/**
 * Every HAProxy instance's runtime API, in config order; one reached over SSH takes the stack's ssh
 * settings (the config parser made sure they are set).
 */
export function haproxyRuntimeEndpoints(config: UpgradeConfig): RuntimeEndpoint[] {
  const lb = config.loadBalancer;
  if (lb.type !== "haproxy") return [];
  const entries = Array.isArray(lb.runtimeApi) ? lb.runtimeApi : [lb.runtimeApi];
  return entries.map((entry) => {
    if (typeof entry === "string") return entry;
    const ssh = config.ssh;
    return {
      ssh: {
        host: entry.ssh.host,
        user: entry.ssh.user,
        port: entry.ssh.port ?? ssh?.port ?? 22,
        hostKeyPolicy: ssh?.hostKeyPolicy ?? "strict",
        ...(ssh?.knownHostsFile ? { knownHostsFile: ssh.knownHostsFile } : {}),
        ...(ssh ? { connectTimeoutSeconds: ssh.connectTimeoutSeconds } : {}),
      },
      socket: entry.socket,
    };
  });
}

/** How the plan names the load balancer's runtime APIs. */
export function haproxyRuntimeSummary(config: UpgradeConfig): string {
  return haproxyRuntimeEndpoints(config).map(runtimeEndpointLabel).join(", ");
}

/** The secrets a load-balancer step needs: the SSH key when a runtime API is reached over SSH. */
export function lbStepSecrets(config: UpgradeConfig): SecretName[] {
  const overSsh = haproxyRuntimeEndpoints(config).some((endpoint) => typeof endpoint !== "string");
  return overSsh ? ["sshPrivateKey"] : [];
}

/** The load-balancer membership of one node: an HAProxy server, or an ALB target. */
export function lbTargetFor(config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbTarget {
  const lb = config.loadBalancer;
  if (lb.type === "haproxy") {
    return {
      type: "haproxy",
      runtimeApis: haproxyRuntimeEndpoints(config),
      backend: lb.backend,
      server: node.haproxyServer,
    };
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
      runtimeApis: haproxyRuntimeEndpoints(config),
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
  return {
    host: db.host,
    port: db.port,
    user: db.user,
    database: db.name,
    ssl: db.tls,
    ...(db.caFile ? { caFile: db.caFile } : {}),
  };
}
