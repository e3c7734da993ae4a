import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { hostKeyFor } from "../exec/knownHosts";
import { nodeCommandsSchema, ParsedStack, RUNTIME_API_FORMS, stackSchema } from "./schema";

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

/** Reads a known_hosts file; undefined when it cannot be read. */
export type KnownHostsReader = (file: string) => string | undefined;

export const readKnownHostsFile: KnownHostsReader = (file) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

/** The known_hosts file OpenSSH uses: the configured one, else the operator's own. */
function knownHostsFileOf(stack: ParsedStack): string {
  return stack.ssh?.knownHostsFile ?? path.join(homedir(), ".ssh", "known_hosts");
}

/**
 * What the `command` executor needs to honour the ssh settings: every SSH node's host key, known
 * before the run (remote.Command checks one fixed key and cannot trust on first use). Returns the
 * keys by node name and the problems.
 */
function commandHostKeys(
  stack: ParsedStack,
  nodes: ResolvedNode[],
  readKnownHosts: KnownHostsReader,
): { keys: Record<string, string>; problems: string[] } {
  const keys: Record<string, string> = {};
  const problems: string[] = [];
  const policy = stack.ssh?.hostKeyPolicy ?? "strict";
  if (stack.exec !== "command" || !stack.ssh || policy === "insecure") return { keys, problems };
  if ("provision" in stack.newNode) {
    problems.push(
      `${key(["exec"])} = "command": remote.Command cannot check the host key of a NEW NODE the stack launches (its key is not known before it runs, and remote.Command cannot trust on first use): use exec: native with ssh.hostKeyPolicy accept-new`,
    );
  }
  const file = knownHostsFileOf(stack);
  const text = readKnownHosts(file);
  const sshNodes = nodes.filter((node) => node.transport === "ssh");
  if (text === undefined && sshNodes.length > 0) {
    problems.push(
      `${key(["ssh", "knownHostsFile"])} = ${show(file)}: cannot read it, and exec: command checks every node's host key from it: create it with each node's key (ssh-keyscan -t ed25519 <address> >> ${file}, after checking the fingerprints) or fix the path`,
    );
    return { keys, problems };
  }
  nodes.forEach((node, index) => {
    if (node.transport !== "ssh") return;
    const found = hostKeyFor(text ?? "", node.address, node.sshPort);
    if (found) {
      keys[node.name] = found;
      return;
    }
    const fetch = `ssh-keyscan${node.sshPort === 22 ? "" : ` -p ${node.sshPort}`} -t ed25519 ${node.address} >> ${file}`;
    const why =
      policy === "strict"
        ? "and ssh.hostKeyPolicy is strict"
        : "and exec: command cannot trust on first use (remote.Command checks a fixed key; exec: native can)";
    problems.push(
      `${key(["nodes", index])} (${node.name}, ${node.address}:${node.sshPort}): no host key in ${file}, ${why}: add it with \`${fetch}\` after checking its fingerprint against the node's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)`,
    );
  });
  return { keys, problems };
}

/** The variables a node script exports that name the release it installs (scripts.ts). */
const VERSION_VARIABLES = /\$\{?(GLANCE_TARGET_VERSION|GLANCE_RELEASE)\b/;

/** An ALB target registered by its address: an ip target group (parse requires an instance id otherwise). */
const IPV4 = /^[0-9.]+$/;

/**
 * What an RDS endpoint host name says: its region, and for a DB instance endpoint
 * (`<instance>.<hash>.<region>.rds.amazonaws.com`) the instance. Cluster (`<name>.cluster-<hash>...`)
 * and proxy (`<name>.proxy-<hash>...`) endpoints name no instance. Undefined for any other host (a
 * CNAME of the endpoint, an IP address, a tunnel), which says nothing.
 */
function rdsEndpointOf(host: string): { region: string; instance?: string } | undefined {
  const match = /^(.+)\.([a-z]{2}(?:-[a-z]+)+-\d)\.rds\.amazonaws\.com(?:\.cn)?$/.exec(host.toLowerCase());
  if (!match) return undefined;
  const labels = match[1].split(".");
  const isInstance = labels.length === 2 && /^[a-z0-9]+$/.test(labels[1]);
  return { region: match[2], ...(isInstance ? { instance: labels[0] } : {}) };
}

/** The region an ELBv2 target group ARN names (arn:aws:elasticloadbalancing:REGION:ACCOUNT:...). */
function arnRegion(arn: string): string {
  return arn.split(":")[3];
}

/** An endpoint override that is one of AWS's own ELBv2 endpoints (public, FIPS or a VPC endpoint). */
function isElbv2AwsEndpoint(endpoint: string): boolean {
  const host = /^https?:\/\/([^/:]+)/.exec(endpoint)?.[1]?.toLowerCase() ?? "";
  return /(^|\.)elasticloadbalancing(-fips)?\./.test(host) && /\.amazonaws\.com(\.cn)?$/.test(host);
}

/**
 * The AWS identifiers of different blocks that must name the same thing: the RDS instance the backup
 * snapshots and the database the upgrade changes; the ALB's region and its target group's; and the
 * endpoint the bake's CloudWatch alarms are read through, which is the ALB's.
 */
function awsIdentityProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  const { backup, database, loadBalancer: lb } = stack;
  const rds = rdsEndpointOf(database.host);
  if (backup.type === "rds-snapshot" && rds) {
    if (rds.instance && backup.dbInstanceIdentifier.toLowerCase() !== rds.instance) {
      problems.push(
        `${key(["backup", "dbInstanceIdentifier"])} = ${show(backup.dbInstanceIdentifier)}: database.host ${database.host} is the endpoint of DB instance "${rds.instance}", so the snapshot would be of another database than the one upgraded; use ${rds.instance}`,
      );
    }
    if (backup.region && backup.region !== rds.region) {
      problems.push(
        `${key(["backup", "region"])} = ${show(backup.region)}: database.host ${database.host} is in ${rds.region}, and RDS snapshots an instance only in its own region; use ${rds.region}`,
      );
    }
  }
  if (lb.type === "alb" && lb.region && lb.region !== arnRegion(lb.targetGroupArn)) {
    problems.push(
      `${key(["loadBalancer", "region"])} = ${show(lb.region)}: loadBalancer.targetGroupArn is in ${arnRegion(lb.targetGroupArn)}, and ELBv2 finds a target group only in its own region; use ${arnRegion(lb.targetGroupArn)}`,
    );
  }
  if (
    lb.type === "alb" &&
    lb.endpoint &&
    stack.bake.alarmNames.length > 0 &&
    isElbv2AwsEndpoint(lb.endpoint)
  ) {
    problems.push(
      `${key(["loadBalancer", "endpoint"])} = ${show(lb.endpoint)}: bake.alarmNames are read from CloudWatch through this endpoint too, and an ELBv2 endpoint cannot answer CloudWatch: remove it (an interface VPC endpoint with private DNS needs no override) or remove bake.alarmNames`,
    );
  }
  return problems;
}

/** The default commands, which assume a targetVersion without the Debian epoch. */
const DEFAULT_NODE_COMMANDS = nodeCommandsSchema.parse({});

/**
 * targetVersion and rollbackTo.version against the commands that install and check them, and against
 * each other: every version check matches by prefix (scripts.ts, fleet/verify).
 */
function versionProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  const commands = stack.nodeCommands;
  const versions: Array<[PropertyKey[], string]> = [[["targetVersion"], stack.targetVersion]];
  if (stack.rollbackTo) versions.push([["rollbackTo", "version"], stack.rollbackTo.version]);
  for (const [path, version] of versions) {
    const epoch = /^(\d+):(.*)$/.exec(version);
    if (!epoch) continue;
    const why =
      commands.versionCommand === DEFAULT_NODE_COMMANDS.versionCommand
        ? `nodeCommands.versionCommand is the default, which prints the version without its Debian epoch, so no node would ever report a version starting with "${epoch[1]}:"`
        : commands.upgradeCommand === DEFAULT_NODE_COMMANDS.upgradeCommand
          ? `nodeCommands.upgradeCommand is the default, which adds the epoch itself ("glance-api=2:\${GLANCE_TARGET_VERSION}*"), so apt would be asked for glance-api=2:${version}*`
          : undefined;
    if (why) problems.push(`${key(path)} = ${show(version)}: ${why}; write ${show(epoch[2])}`);
  }
  if (stack.rollbackTo) {
    const back = stack.rollbackTo.version;
    const target = stack.targetVersion;
    if (back === target) {
      problems.push(
        `${key(["rollbackTo", "version"])} = ${show(back)}: the same as targetVersion, so rollback would reinstall the version it rolls back from and its check could not tell the difference: use the version the nodes ran before the upgrade, as versionCommand printed it there (e.g. 27.1.1)`,
      );
    } else if (back.startsWith(target)) {
      problems.push(
        `${key(["targetVersion"])} = ${show(target)}: rollbackTo.version ${show(back)}, the version before the upgrade, starts with it, and the upgrade's version check and fleet/verify match by prefix, so a node still on the old version would pass them (and db contract could run): write the full version the upgrade installs`,
      );
    } else if (target.startsWith(back)) {
      problems.push(
        `${key(["rollbackTo", "version"])} = ${show(back)}: targetVersion ${show(target)} starts with it, and rollback's version check matches by prefix, so a node still on the new version would pass it: write the full version rollback installs`,
      );
    }
  }
  return problems;
}

/** A NEW NODE the stack launches: its health URL and the tags the stack always sets. */
function provisionProblems(stack: ParsedStack): string[] {
  if (!("provision" in stack.newNode)) return [];
  const provision = stack.newNode.provision;
  const problems: string[] = [];
  const healthUrl = stack.nodeCommands.healthUrl;
  if (!healthUrl.includes("{address}")) {
    problems.push(
      `${key(["nodeCommands", "healthUrl"])} = ${show(healthUrl)}: the NEW NODE the stack launches (newNode.provision) is health-checked at this URL with {address} replaced by its private IP, so without {address} its health gate would check another host: write it with {address}, e.g. http://{address}:9292/healthcheck`,
    );
  }
  const tags = provision.tags ?? {};
  const always: Array<[string, string, string]> = [
    ["Name", provision.name, "newNode.provision.name"],
    ["glance:release", stack.targetRelease, "targetRelease (and updates it with every release)"],
  ];
  for (const [tag, value, source] of always) {
    if (tags[tag] !== undefined && tags[tag] !== value) {
      problems.push(
        `${key(["newNode", "provision", "tags", tag])} = ${show(tags[tag])}: the stack always sets the ${tag} tag to ${source}, here ${show(value)}, and this would replace it: remove it`,
      );
    }
  }
  return problems;
}

/** Bake settings that the chosen load balancer or window would ignore. */
function bakeProblems(stack: ParsedStack): string[] {
  const { bake, loadBalancer: lb } = stack;
  if (bake.errorBudget === 0) return [];
  const budget = `${key(["bake", "errorBudget"])} = ${bake.errorBudget}`;
  if (bake.windowSeconds === 0) {
    return [
      `${budget}: the bake is off (windowSeconds 0), so no error would be counted: set windowSeconds (e.g. 60) or remove errorBudget`,
    ];
  }
  if (lb.type === "alb") {
    return [
      `${budget}: an ALB bake counts no errors (it watches the target's health and bake.alarmNames), so this budget would be ignored: remove errorBudget, and watch the ALB's 5xx with a CloudWatch alarm in bake.alarmNames`,
    ];
  }
  return [];
}

/**
 * Parses raw stack config (key without namespace -> parsed YAML value) into a typed, cross-checked
 * config. Throws one ConfigError listing every problem; pure, so a preview fails before any resource.
 */
export function parseStackConfig(
  raw: Record<string, unknown>,
  secrets: Record<SecretKey, SecretPresence>,
  readKnownHosts: KnownHostsReader = readKnownHostsFile,
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
    if (lb.type === "alb" && !node.instanceId && !IPV4.test(node.address)) {
      problems.push(
        `${key(["nodes", index, "instanceId"])}: an ALB target needs the node's EC2 instance id (or an IPv4 address for an ip target group)`,
      );
    }
    const given = stack.nodes[index];
    // Settings for another load balancer or transport than the one in use would be ignored silently.
    if (lb.type === "alb" && given.haproxyServer !== undefined) {
      problems.push(
        `${key(["nodes", index, "haproxyServer"])} = ${show(given.haproxyServer)}: loadBalancer.type is alb, which has no HAProxy servers, so it would be ignored: remove it (the ALB target is the node's instanceId, or its address in an ip target group)`,
      );
    }
    if (lb.type === "haproxy" && given.instanceId !== undefined) {
      problems.push(
        `${key(["nodes", index, "instanceId"])} = ${show(given.instanceId)}: loadBalancer.type is haproxy, which knows the node by its server name (haproxyServer, default the node name), so it would be ignored: remove it`,
      );
    }
    if (node.transport === "local" && given.sshPort !== undefined) {
      problems.push(
        `${key(["nodes", index, "sshPort"])} = ${given.sshPort}: ${node.name} uses transport local (its scripts run on this machine, not over SSH), so it would be ignored: remove it or set transport: ssh`,
      );
    }
  });

  // A target group holds one target type: instance ids, or IP addresses.
  if (lb.type === "alb") {
    const byInstance = nodes.findIndex((node) => node.instanceId !== undefined);
    nodes.forEach((node, index) => {
      if (byInstance < 0 || node.instanceId !== undefined || !IPV4.test(node.address)) return;
      problems.push(
        `${key(["nodes", index, "instanceId"])} = (not set): ${node.name} would be registered by its IP address and ${nodes[byInstance].name} by its instance id (nodes[${byInstance}].instanceId), but a target group holds one target type: set instanceId on every node (an instance target group) or on none (an ip target group)`,
      );
    });
    if ("provision" in stack.newNode && byInstance < 0 && nodes.some((node) => IPV4.test(node.address))) {
      problems.push(
        `${key(["newNode", "provision"])}: the stack joins the NEW NODE to the target group by its instance id, but the nodes are registered by IP address (no instanceId), and an ip target group refuses an instance: set every node's instanceId (an instance target group) or use newNode.existing`,
      );
    }
  }

  const waveCount = Math.ceil((fleetSize - 1) / Math.max(1, lb.maxUnavailable));
  // Pausing after the last wave holds db contract, the one step rollback cannot undo, for approval.
  if (typeof stack.pauseAfter === "number" && stack.pauseAfter > waveCount) {
    problems.push(
      `${key(["pauseAfter"])} = ${stack.pauseAfter}: there ${waveCount === 1 ? "is 1 wave" : `are ${waveCount} waves`} after the NEW NODE; pause after "newNode" or a wave from 1 to ${waveCount} (${waveCount}: every node upgraded, before db contract)`,
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
  if (stack.database.caFile && !stack.database.tls) {
    problems.push(
      `${key(["database", "caFile"])} = ${show(stack.database.caFile)}: it is only used with TLS; set database.tls: true, or remove caFile`,
    );
  }
  if (!("existing" in stack.newNode) && !stack.ssh) {
    problems.push(`${key(["ssh"])}: a provisioned NEW NODE is reached over SSH; set ssh.user`);
  }
  if (!("existing" in stack.newNode) && stack.ssh?.hostKeyPolicy === "strict") {
    problems.push(
      `${key(["ssh", "hostKeyPolicy"])} = "strict": the NEW NODE the stack launches has no key in known_hosts before it runs, so no SSH connection to it could be made: use accept-new (its key is learned on the first connection to the instance this stack launched)`,
    );
  }
  if (stack.rollbackTo && !VERSION_VARIABLES.test(stack.nodeCommands.upgradeCommand)) {
    problems.push(
      `${key(["rollbackTo"])} = ${show(stack.rollbackTo)}: rollback runs nodeCommands.upgradeCommand with the rollback release, but the command uses neither $GLANCE_TARGET_VERSION nor $GLANCE_RELEASE, so it would install the same version again: pin the version in it (e.g. apt-get install --allow-downgrades "glance-api=2:\${GLANCE_TARGET_VERSION}*" ...) or remove rollbackTo`,
    );
  }
  problems.push(
    ...awsIdentityProblems(stack),
    ...versionProblems(stack),
    ...provisionProblems(stack),
    ...bakeProblems(stack),
  );
  const hostKeys = commandHostKeys(stack, nodes, readKnownHosts);
  problems.push(...hostKeys.problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...stack,
    nodes,
    newNodeName,
    hostKeys: hostKeys.keys,
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
export function parseConfigEntries(
  entries: ConfigEntry[],
  readKnownHosts: KnownHostsReader = readKnownHostsFile,
): UpgradeConfig {
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
  return parseStackConfig(raw, presence, readKnownHosts);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
