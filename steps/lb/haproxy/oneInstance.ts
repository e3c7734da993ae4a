/**
 * The membership steps against one HAProxy runtime API given by address (the drain benchmark, the
 * single-instance tests): a list of one for the same protocol the load balancer runs.
 */
import { StepContext } from "../../context";
import { readBackendServers, ServerStat } from "../haproxyRuntime";
import type { HaproxyDrained } from "./drain";
import { admitToHaproxy, checkHaproxyFleet, drainFromHaproxy } from "./loadBalancer";
import { findServer } from "./pool";

export interface HaproxyServerRef {
  /** `unix:/path/to/admin.sock` or `host:port` of a `stats socket ... level admin`. */
  runtimeApi: string;
  backend: string;
  server: string;
}

export async function haproxyServerState(ref: HaproxyServerRef): Promise<ServerStat> {
  return findServer(ref, await readBackendServers(ref.runtimeApi, ref.backend));
}

export function haproxyDrain(
  {
    runtimeApi,
    ...args
  }: HaproxyServerRef & { minHealthy: number; drainTimeoutSeconds: number; pollIntervalMs?: number },
  ctx: StepContext,
): Promise<HaproxyDrained> {
  return drainFromHaproxy({ ...args, runtimeApis: [runtimeApi] }, undefined, ctx);
}

export function haproxyAdmit(
  { runtimeApi, ...args }: HaproxyServerRef & { healthTimeoutSeconds: number; pollIntervalMs?: number },
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  return admitToHaproxy({ ...args, runtimeApis: [runtimeApi] }, undefined, ctx);
}

export function haproxyFleetCheck(
  { runtimeApi, ...args }: { runtimeApi: string; backend: string; expectedServers: string[] },
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  return checkHaproxyFleet({ ...args, runtimeApis: [runtimeApi] }, undefined, ctx);
}
