import { z } from "zod";
import { ParsedStack, RUNTIME_API_FORMS, stackSchema } from "./schema";

/** The project's config namespace: keys are `glance-rolling-upgrade:<key>`. */
export const CONFIG_NAMESPACE = "glance-rolling-upgrade";

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
  instanceId?: string;
  haproxyServer: string;
  sshPort: number;
  healthUrl: string;
  /** True for a NEW NODE the stack provisions (not in `nodes`). */
  provisioned: boolean;
}

export interface UpgradeConfig extends Omit<ParsedStack, "nodes"> {
  nodes: ResolvedNode[];
  newNodeName: string;
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

function key(path: ReadonlyArray<PropertyKey>): string {
  return `${CONFIG_NAMESPACE}:${path
    .map((segment, index) =>
      typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`,
    )
    .join("")}`;
}

function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let current: unknown = raw;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment as string];
  }
  return current;
}

function show(value: unknown): string {
  if (value === undefined) return "(not set)";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const value = valueAt(raw, issue.path);
  let fix = issue.message;
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((k) => `${key([...issue.path, k])}: unknown key: remove it or fix the spelling`)
      .join("\n  - ");
  }
  if (value === undefined && issue.code === "invalid_type") fix = `is required (${issue.message})`;
  if (issue.code === "invalid_union" && issue.path.at(-1) === "newNode") {
    fix =
      "set either {existing: <node name>} or {provision: {name, ami|launchTemplateId, subnetId, securityGroupIds, keyName}}";
  }
  return `${key(issue.path)} = ${show(value)}: ${fix}`;
}

/**
 * A runtime API entry is a string or an object; when neither fits, the branch of the right type
 * knows what is wrong (e.g. `ssh.user` missing). Anything less specific gets the list of forms.
 */
function runtimeApiIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== "invalid_union") return issue;
  const typed = issue.errors
    .flat()
    .filter((inner) => !(inner.code === "invalid_type" && inner.path.length === 0));
  if (typed.length === 0) return { ...issue, message: RUNTIME_API_FORMS };
  const inner = typed[0];
  return runtimeApiIssue({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue);
}

/** Problems with the list of HAProxy runtime APIs: an SSH entry without `ssh` settings, duplicates. */
function runtimeApiProblems(stack: ParsedStack): string[] {
  const lb = stack.loadBalancer;
  if (lb.type !== "haproxy" || !Array.isArray(lb.runtimeApi)) return [];
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

/**
 * Parses raw stack config (key without namespace -> parsed YAML value) into a typed, cross-checked
 * config. Throws one ConfigError listing every problem; pure, so a preview fails before any resource.
 */
export function parseStackConfig(
  raw: Record<string, unknown>,
  secrets: Record<SecretKey, SecretPresence>,
): UpgradeConfig {
  const plain: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(name)) continue;
    plain[name] = value;
  }
  for (const name of SECRET_KEYS) {
    const presence = secrets[name];
    if (presence.present && !presence.isSecret) {
      problems.push(
        `${CONFIG_NAMESPACE}:${name} is stored in plaintext: run \`pulumi config set --secret ${name} <value>\` (and rotate it)`,
      );
    }
  }

  const parsed = stackSchema.safeParse(plain);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(describeIssue(plain, issue.path.includes("runtimeApi") ? runtimeApiIssue(issue) : issue));
    }
    throw new ConfigError(problems);
  }
  const stack = parsed.data;
  const nodes: ResolvedNode[] = stack.nodes.map((node) => ({
    name: node.name,
    address: node.address,
    transport: node.transport,
    instanceId: node.instanceId,
    haproxyServer: node.haproxyServer ?? node.name,
    sshPort: node.sshPort ?? stack.ssh?.port ?? 22,
    healthUrl: (node.healthUrl ?? stack.nodeCommands.healthUrl).replaceAll("{address}", node.address),
    provisioned: false,
  }));

  let newNodeName: string;
  if ("existing" in stack.newNode) {
    newNodeName = stack.newNode.existing;
    if (!nodes.some((n) => n.name === newNodeName)) {
      problems.push(
        `${key(["newNode", "existing"])} = ${show(newNodeName)}: no such node; use one of ${nodes.map((n) => n.name).join(", ")}`,
      );
    }
  } else {
    const provision = stack.newNode.provision;
    newNodeName = provision.name;
    if (!provision.ami === !provision.launchTemplateId) {
      problems.push(`${key(["newNode", "provision"])}: set exactly one of 'ami' or 'launchTemplateId'`);
    }
    if (stack.loadBalancer.type !== "alb") {
      problems.push(
        `${key(["newNode", "provision"])}: a provisioned NEW NODE joins an ALB target group; with loadBalancer.type haproxy use newNode.existing`,
      );
    }
    if (nodes.some((n) => n.name === newNodeName)) {
      problems.push(
        `${key(["newNode", "provision", "name"])} = ${show(newNodeName)}: clashes with an existing node's name`,
      );
    }
  }

  const fleetSize = nodes.length + ("provision" in stack.newNode ? 1 : 0);
  if (fleetSize < 2) {
    problems.push(
      `${key(["nodes"])}: a rolling upgrade needs at least 2 nodes, or 1 node plus a provisioned NEW NODE (newNode.provision); got ${nodes.length}`,
    );
  }
  const lb = stack.loadBalancer;
  if (lb.maxUnavailable >= fleetSize) {
    problems.push(
      `${key(["loadBalancer", "maxUnavailable"])} = ${lb.maxUnavailable}: must be below the fleet size (${fleetSize}); use 1${fleetSize > 2 ? `..${fleetSize - 1}` : ""}`,
    );
  } else if (fleetSize - lb.maxUnavailable < lb.minHealthy) {
    problems.push(
      `${key(["loadBalancer", "minHealthy"])} = ${lb.minHealthy}: with ${fleetSize} nodes and maxUnavailable ${lb.maxUnavailable} at most ${fleetSize - lb.maxUnavailable} stay in rotation; lower minHealthy or maxUnavailable`,
    );
  }

  problems.push(...runtimeApiProblems(stack));

  const seen = new Map<string, string>();
  nodes.forEach((node, index) => {
    const identities = [`name ${node.name}`, `health URL ${node.healthUrl}`];
    if (node.transport === "ssh") identities.push(`address ${node.address}:${node.sshPort}`);
    if (node.instanceId) identities.push(`instance ${node.instanceId}`);
    if (lb.type === "haproxy") identities.push(`HAProxy server ${node.haproxyServer}`);
    for (const identity of identities) {
      const first = seen.get(identity);
      if (first)
        problems.push(
          `${key(["nodes", index])}: duplicate ${identity} (already used by ${first}); each node must be distinct`,
        );
      else seen.set(identity, node.name);
    }
    if (node.transport === "ssh" && !stack.ssh) {
      problems.push(
        `${key(["nodes", index, "transport"])} = "ssh": set ${key(["ssh"])} (user, port, hostKeyPolicy) to reach it`,
      );
    }
    if (lb.type === "alb" && !node.instanceId && !/^[0-9.]+$/.test(node.address)) {
      problems.push(
        `${key(["nodes", index, "instanceId"])}: an ALB target needs the node's EC2 instance id (or an IPv4 address for an ip target group)`,
      );
    }
  });

  const waveCount = Math.ceil((fleetSize - 1) / Math.max(1, lb.maxUnavailable));
  if (typeof stack.pauseAfter === "number" && stack.pauseAfter >= waveCount) {
    problems.push(
      `${key(["pauseAfter"])} = ${stack.pauseAfter}: there ${waveCount === 1 ? "is 1 wave" : `are ${waveCount} waves`} after the NEW NODE; pause after "newNode"${waveCount > 1 ? ` or a wave from 1 to ${waveCount - 1}` : ""}`,
    );
  }

  if (!secrets.dbPassword.present) {
    problems.push(
      `${CONFIG_NAMESPACE}:dbPassword is required: run \`pulumi config set --secret dbPassword <the Glance DB password>\``,
    );
  }
  if (stack.database.adminUser && !secrets.dbAdminPassword.present) {
    problems.push(
      `${CONFIG_NAMESPACE}:dbAdminPassword is required when database.adminUser is set: run \`pulumi config set --secret dbAdminPassword <password>\``,
    );
  }
  if (!stack.database.adminUser && secrets.dbAdminPassword.present) {
    problems.push(
      `${CONFIG_NAMESPACE}:dbAdminPassword is set but database.adminUser is not: set database.adminUser or remove the secret`,
    );
  }
  if (!("existing" in stack.newNode) && !stack.ssh) {
    problems.push(`${key(["ssh"])}: a provisioned NEW NODE is reached over SSH; set ssh.user`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...stack,
    nodes,
    newNodeName,
    secrets: {
      dbPassword: secrets.dbPassword.present,
      dbAdminPassword: secrets.dbAdminPassword.present,
      sshPrivateKey: secrets.sshPrivateKey.present,
    },
  };
}

/** One stack config entry as Pulumi stores it: the full key, its text, and whether it is a secret. */
export interface ConfigEntry {
  key: string;
  value: string;
  secret: boolean;
}

/** Keys whose values are plain strings even when they look like numbers (e.g. targetRelease 2024.1). */
const STRING_KEYS = new Set(["targetRelease", "targetVersion", "exec", "approvedRelease"]);

/** Parses the stack's config entries (as the engine or `pulumi config --json` gives them). */
export function parseConfigEntries(entries: ConfigEntry[]): UpgradeConfig {
  const raw: Record<string, unknown> = {};
  const presence = Object.fromEntries(
    SECRET_KEYS.map((name) => [name, { present: false, isSecret: false }]),
  ) as Record<SecretKey, SecretPresence>;
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const entry of entries) {
    if (!entry.key.startsWith(prefix)) continue;
    const name = entry.key.slice(prefix.length);
    if ((SECRET_KEYS as readonly string[]).includes(name)) {
      presence[name as SecretKey] = { present: true, isSecret: entry.secret };
      continue;
    }
    raw[name] = STRING_KEYS.has(name) ? entry.value : parseValue(entry.value);
  }
  return parseStackConfig(raw, presence);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
