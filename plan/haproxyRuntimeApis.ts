import type { UpgradeConfig } from "./config";
import { RuntimeEndpoint, runtimeEndpointLabel } from "../steps/lb/haproxyEndpoints";

type HaproxyConfig = Extract<UpgradeConfig["loadBalancer"], { type: "haproxy" }>;

/**
 * Every HAProxy instance's runtime API, in config order; one reached over SSH takes the stack's ssh
 * settings (the config parser made sure they are set).
 */
export function runtimeEndpointsOf(lb: HaproxyConfig, config: UpgradeConfig): RuntimeEndpoint[] {
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

/** How the plan names an HAProxy load balancer's runtime APIs ("" for another kind). */
export function haproxyRuntimeSummary(config: UpgradeConfig): string {
  const lb = config.loadBalancer;
  return lb.type === "haproxy" ? runtimeEndpointsOf(lb, config).map(runtimeEndpointLabel).join(", ") : "";
}
