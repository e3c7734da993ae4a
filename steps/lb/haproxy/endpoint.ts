/**
 * How a step request names one HAProxy instance's runtime API, and how messages and the runbook name
 * it. Pure (types only): the plan builds these without loading the steps that open them.
 */
import type { SshTarget } from "../../exec/types";

/** An SSH target without its private key (that travels as a secret). */
export type SshForwardTarget = Omit<SshTarget, "privateKey">;

/** `unix:/path` or `host:port` of a `stats socket ... level admin`, or that socket on another host over SSH. */
export type RuntimeEndpoint = string | { ssh: SshForwardTarget; socket: string };

/** `ssh://user@host:port/path/to/admin.sock`: how messages name a socket reached over SSH. */
export function forwardLabel(
  target: Pick<SshTarget, "user" | "host" | "port">,
  remoteSocket: string,
): string {
  return `ssh://${target.user}@${target.host}:${target.port}${remoteSocket}`;
}

export function runtimeEndpointLabel(endpoint: RuntimeEndpoint): string {
  return typeof endpoint === "string" ? endpoint : forwardLabel(endpoint.ssh, endpoint.socket);
}
