/**
 * The stack config parser: raw config in, a typed UpgradeConfig out, or one ConfigError naming every
 * problem. Each step below checks one thing; the checks across blocks live in their own modules.
 */
import { awsIdentityProblems } from "./awsIdentity";
import { commandHostKeys, KnownHostsReader, readKnownHostsFile } from "./commandHostKeys";
import {
  bakeProblems,
  databaseTlsProblems,
  newNodeSshProblems,
  prestageProblems,
  serverMoveProblems,
  provisionProblems,
  rollbackCommandProblems,
  secretProblems,
  versionProblems,
} from "./crossChecks";
import { glanceManageSudoProblems } from "./glanceManageSudo";
import { fleetSizeProblems, loadBalancerProblems, nodeProblems, pauseAfterProblems } from "./fleetChecks";
import { lbKinds } from "../lb/registry";
import { describeIssue } from "./problemText";
import { releaseProblems } from "./releaseChecks";
import { resolveNewNode, resolveNodes } from "./resolveNodes";
import { backupPathProblems, riskProblems } from "./riskChecks";
import { currentStackSchema, ParsedStack } from "./schema";
import {
  CONFIG_NAMESPACE,
  ConfigError,
  SECRET_KEYS,
  SecretKey,
  SecretPresence,
  UpgradeConfig,
} from "./upgradeConfig";

/** The config without its secrets, and a problem for each secret stored in plaintext. */
function withoutSecrets(
  raw: Record<string, unknown>,
  secrets: Record<SecretKey, SecretPresence>,
): { plain: Record<string, unknown>; problems: string[] } {
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
  return { plain, problems };
}

/** The config against the schema; on any schema problem, throws with those and the earlier ones. */
function parseSchema(plain: Record<string, unknown>, earlier: string[]): ParsedStack {
  const parsed = currentStackSchema().safeParse(plain);
  if (parsed.success) return parsed.data;
  const problems = [...earlier];
  // An issue inside the load balancer's block is said in its kind's words, when its type is known.
  const lbType = (plain.loadBalancer as { type?: unknown } | undefined)?.type;
  const kind = lbKinds().find((k) => k.type === lbType);
  for (const issue of parsed.error.issues) {
    const inLb = issue.path[0] === "loadBalancer" && kind !== undefined;
    problems.push(describeIssue(plain, inLb ? kind.refineIssue(issue) : issue));
  }
  throw new ConfigError(problems);
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
  const { plain, problems } = withoutSecrets(raw, secrets);
  const stack = parseSchema(plain, problems);
  const nodes = resolveNodes(stack);
  const newNode = resolveNewNode(stack, nodes);
  const hostKeys = commandHostKeys(stack, nodes, readKnownHosts);
  problems.push(
    ...newNode.problems,
    ...fleetSizeProblems(stack, nodes),
    ...nodeProblems(stack, nodes),
    ...loadBalancerProblems(stack, nodes),
    ...pauseAfterProblems(stack, nodes),
    ...secretProblems(stack, secrets),
    ...databaseTlsProblems(stack),
    ...newNodeSshProblems(stack),
    ...rollbackCommandProblems(stack),
    ...prestageProblems(stack),
    ...serverMoveProblems(stack),
    ...glanceManageSudoProblems(stack),
    ...awsIdentityProblems(stack),
    ...versionProblems(stack),
    ...releaseProblems(stack),
    ...provisionProblems(stack),
    ...bakeProblems(stack),
    ...riskProblems(stack),
    ...backupPathProblems(stack),
    ...hostKeys.problems,
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...stack,
    nodes,
    newNodeName: newNode.newNodeName,
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
