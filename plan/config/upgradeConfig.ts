import type { ParsedStack } from "./schema";
import { CONFIG_NAMESPACE } from "./namespace";

export { CONFIG_NAMESPACE };

/** Keys that must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = ["dbPassword", "dbAdminPassword", "sshPrivateKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** What the parser may know about a secret without reading it: whether it is set, and set as a secret. */
export interface SecretPresence {
  present: boolean;
  isSecret: boolean;
}

export interface ResolvedNode {
  name: string;
  address: string;
  transport: "ssh" | "local";
  sshPort: number;
  healthUrl: string;
  /** Glance's `worker_self_reference_url` on the node: where images staged on it are imported. */
  selfReferenceUrl: string;
  /** True for a NEW NODE the stack provisions (not in `nodes`). */
  provisioned: boolean;
  /**
   * The node keys of the load-balancer kind in use, its defaults filled in (`haproxyServer`,
   * `instanceId`): read by that kind alone (plan/lb/<kind>.ts).
   */
  readonly [kindKey: string]: unknown;
}

export interface UpgradeConfig extends Omit<ParsedStack, "nodes"> {
  nodes: ResolvedNode[];
  newNodeName: string;
  /**
   * `exec: command` only: the host key ("type base64") each SSH node must present, from the
   * known_hosts file, by node name (remote.Command ignores the host key unless it is given one).
   */
  hostKeys: Record<string, string>;
  /** Which secrets are configured. */
  secrets: Record<SecretKey, boolean>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}); nothing was changed:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}
