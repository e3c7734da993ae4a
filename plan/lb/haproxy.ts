/**
 * HAProxy as the plan sees it: its `loadBalancer` block (one runtime API or several, one backend or
 * several), its node key `haproxyServer`, its checks, and the step requests of its steps
 * (steps/lb/haproxy/).
 */
import { z } from "zod";
import { RuntimeEndpoint, runtimeEndpointLabel } from "../../steps/lb/haproxy/endpoint";
import type { HaproxyFleet, HaproxyTarget } from "../../steps/lb/haproxy/loadBalancer";
import { eachOnce, hostOrIp, port, posixUser, safeName } from "../config/fields";
import { isLoopbackHost } from "../config/hosts";
import { ackFix, key, show } from "../config/problemText";
import type { ResolvedNode, UpgradeConfig } from "../config/upgradeConfig";
import type { ParsedStack } from "../config/schema";
import type { LbKindPlan } from "./kind";
import { rolloutFields } from "./rollout";

const runtimeAddress = z
  .string()
  .regex(/^unix:\/[A-Za-z0-9._/-]+$|^[A-Za-z0-9.-]+:\d{1,5}$/, "use unix:/path/to/admin.sock or HOST:PORT");

/**
 * A runtime API on another host, reached by OpenSSH forwarding its unix socket: the admin socket is
 * never opened to the network. The stack's ssh settings (host-key policy, known_hosts) and the
 * sshPrivateKey secret apply.
 */
export const runtimeApiOverSshSchema = z.strictObject({
  ssh: z.strictObject({ host: hostOrIp, user: posixUser, port: port.optional() }),
  socket: z
    .string()
    .regex(
      /^\/[A-Za-z0-9._/-]+$/,
      "use the absolute path of HAProxy's admin socket on that host, e.g. /run/haproxy/admin.sock",
    ),
});

const runtimeApiEntry = z.union([runtimeAddress, runtimeApiOverSshSchema]);

/** What every HAProxy runtime API entry may be, for messages. */
export const RUNTIME_API_FORMS =
  "use unix:/path/to/admin.sock or HOST:PORT, or a list of those and {ssh: {host, user, port?}, socket: /path/to/admin.sock}";

const backendName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "use the HAProxy backend's name (letters, digits, '_', '.', '-')");

export const haproxySchema = z.strictObject({
  type: z.literal("haproxy"),
  /** One instance's runtime API, or every instance's (an active/standby pair or more). */
  runtimeApi: z.union([
    runtimeAddress,
    z.array(runtimeApiEntry).min(1, "list at least one runtime API (one per HAProxy instance)"),
  ]),
  /**
   * The backend holding the Glance servers, or every one that does (kolla-ansible has
   * `glance_api_back` and `glance_api_external_back`): a node left in one takes requests through it.
   */
  backend: z.union([
    backendName,
    z
      .array(backendName)
      .min(1, "list at least one backend (each HAProxy backend that holds the Glance servers)")
      .superRefine(eachOnce("loadBalancer.backend", "backend")),
  ]),
  ...rolloutFields,
});

export type HaproxyConfig = z.output<typeof haproxySchema>;

/** The node's server in the HAProxy backends (its `haproxyServer`, default its name). */
function serverOf(node: ResolvedNode): string {
  return typeof node.haproxyServer === "string" ? node.haproxyServer : node.name;
}

/**
 * Every HAProxy instance's runtime API, in config order; one reached over SSH takes the stack's ssh
 * settings (the config parser made sure they are set).
 */
export function runtimeEndpointsOf(lb: HaproxyConfig, config: Pick<UpgradeConfig, "ssh">): RuntimeEndpoint[] {
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

/** Problems with the list of HAProxy runtime APIs: an SSH entry without `ssh` settings, duplicates. */
function runtimeApiProblems(lb: HaproxyConfig, stack: ParsedStack): string[] {
  if (!Array.isArray(lb.runtimeApi)) return [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  lb.runtimeApi.forEach((entry, index) => {
    const path = ["loadBalancer", "runtimeApi", index];
    let identity: string;
    if (typeof entry === "string") {
      identity = entry;
    } else {
      identity = `${entry.ssh.host}:${entry.ssh.port ?? stack.ssh?.port ?? 22}:${entry.socket}`;
      if (!stack.ssh) {
        problems.push(
          `${key(path)}: a runtime API reached over SSH uses the stack's ssh settings (hostKeyPolicy, knownHostsFile) and sshPrivateKey; set ${key(["ssh"])}`,
        );
      }
    }
    const first = seen.get(identity);
    if (first === undefined) seen.set(identity, index);
    else
      problems.push(
        `${key(path)} = ${show(entry)}: duplicate of ${key(["loadBalancer", "runtimeApi", first])}; list each HAProxy instance once`,
      );
  });
  return problems;
}

/** A runtime API on a TCP socket at a network address: no authentication, no encryption. */
function runtimeApiOverNetwork(lb: HaproxyConfig): string[] {
  const entries = Array.isArray(lb.runtimeApi)
    ? lb.runtimeApi.map((entry, index) => [["loadBalancer", "runtimeApi", index], entry] as const)
    : [[["loadBalancer", "runtimeApi"], lb.runtimeApi] as const];
  return entries.flatMap(([path, entry]) => {
    if (typeof entry !== "string" || entry.startsWith("unix:")) return [];
    const host = entry.slice(0, entry.lastIndexOf(":"));
    if (isLoopbackHost(host)) return [];
    return [
      `${key(path)} = ${show(entry)}: HAProxy's runtime API has no authentication, so a TCP socket on a network address lets anyone who reaches it take servers in and out of rotation, and the drain's answers travel unencrypted; reach it over SSH instead ({ssh: {host: ${show(host)}, user}, socket: /run/haproxy/admin.sock}, with the stack's ssh settings), or, on a management network you trust, ${ackFix("runtimeApiOverNetwork")}`,
    ];
  });
}

/**
 * A runtime API entry is a string or an object; when neither fits, the branch of the right type
 * knows what is wrong (e.g. `ssh.user` missing). Anything less specific gets the list of forms.
 */
export function runtimeApiIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== "invalid_union") return issue;
  const typed = issue.errors
    .flat()
    .filter((inner) => !(inner.code === "invalid_type" && inner.path.length === 0));
  if (typed.length === 0) return { ...issue, message: RUNTIME_API_FORMS };
  const inner = typed[0];
  return runtimeApiIssue({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue);
}

// Key order matters: a step's request is part of the step's identity, so a reordered key would
// rerun the step.
export const haproxyKind: LbKindPlan<HaproxyConfig> = {
  type: "haproxy",
  schema: haproxySchema,
  nodeFields: {
    /** The server's name in the HAProxy backend; defaults to the node name. */
    haproxyServer: { schema: safeName.optional(), names: "HAProxy servers" },
  },
  ignoredNodeField: () =>
    "which knows the node by its server name (haproxyServer, default the node name), so it would be ignored: remove it",
  resolveNodeFields: (node, given) => ({ haproxyServer: given.haproxyServer ?? node.name }),
  nodeIdentities: (node) => [`HAProxy server ${serverOf(node)}`],
  member: (_lb, node) => serverOf(node),
  problems: (lb, stack) => runtimeApiProblems(lb, stack),
  acknowledgements: {
    runtimeApiOverNetwork: "An HAProxy runtime API on a TCP socket at a network address, not over SSH.",
  },
  risks: (lb) => ({ runtimeApiOverNetwork: runtimeApiOverNetwork(lb) }),
  refineIssue: (issue) => (issue.path.includes("runtimeApi") ? runtimeApiIssue(issue) : issue),
  describe: (lb, config) =>
    `HAProxy ${runtimeEndpointsOf(lb, config).map(runtimeEndpointLabel).join(", ")} ${
      typeof lb.backend === "string" ? `backend ${lb.backend}` : `backends ${lb.backend.join(", ")}`
    }`,
  target: (lb, config, node): HaproxyTarget => ({
    type: "haproxy",
    runtimeApis: runtimeEndpointsOf(lb, config),
    backend: lb.backend,
    server: serverOf(node),
  }),
  fleet: (lb, config, nodes): HaproxyFleet => ({
    type: "haproxy",
    runtimeApis: runtimeEndpointsOf(lb, config),
    backend: lb.backend,
    expected: nodes.map(serverOf),
  }),
  // The SSH key, when a runtime API is reached over SSH.
  secrets: (lb, config) =>
    runtimeEndpointsOf(lb, config).some((endpoint) => typeof endpoint !== "string") ? ["sshPrivateKey"] : [],
  // The bake reads its alarms in the SDK's default region (e.g. AWS_REGION).
  alarmsAt: () => ({}),
  provisionedJoin: () => undefined,
};
