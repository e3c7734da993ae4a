/**
 * Checks across config blocks that the schema cannot express: each returns its problems, in the
 * words the operator sees, and none of them reads anything but the parsed config.
 */
import { versionMatches } from "../../steps/version";
import { nodeCommandsSchema } from "./fleetSchema";
import { simpleCommands } from "./shellCommands";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { CONFIG_NAMESPACE, SecretKey, SecretPresence } from "./upgradeConfig";

/** The variables a node script exports that name the release it installs (scripts.ts). */
const VERSION_VARIABLES = /\$\{?(GLANCE_TARGET_VERSION|GLANCE_RELEASE)\b/;

/** The default commands, which assume a targetVersion without the Debian epoch. */
const DEFAULT_NODE_COMMANDS = nodeCommandsSchema.parse({});

/**
 * targetVersion and rollbackTo.version against the commands that install and check them, and against
 * each other: every version check matches by dotted prefix (steps/version.ts: scripts.ts, fleet/verify).
 */
export function versionProblems(stack: ParsedStack): string[] {
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
    } else if (versionMatches(back, target)) {
      problems.push(
        `${key(["targetVersion"])} = ${show(target)}: rollbackTo.version ${show(back)}, the version before the upgrade, starts with it, and the upgrade's version check and fleet/verify match by dotted prefix, so a node still on the old version would pass them (and db contract could run): write the full version the upgrade installs`,
      );
    } else if (versionMatches(target, back)) {
      problems.push(
        `${key(["rollbackTo", "version"])} = ${show(back)}: targetVersion ${show(target)} starts with it, and rollback's version check matches by dotted prefix, so a node still on the new version would pass it: write the full version rollback installs`,
      );
    }
  }
  return problems;
}

/** A NEW NODE the stack launches: its health URL and the tags the stack always sets. */
export function provisionProblems(stack: ParsedStack): string[] {
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

/** Bake settings that the window would ignore. */
export function bakeProblems(stack: ParsedStack): string[] {
  const { bake } = stack;
  if (bake.errorBudget === 0) return [];
  const budget = `${key(["bake", "errorBudget"])} = ${bake.errorBudget}`;
  if (bake.windowSeconds === 0) {
    return [
      `${budget}: the bake is off (windowSeconds 0), so no error would be counted: set windowSeconds (e.g. 60) or remove errorBudget`,
    ];
  }
  // A kind that counts no errors says so itself (plan/lb/alb.ts).
  return [];
}

/** The secrets the database block needs, and no more. */
export function secretProblems(stack: ParsedStack, secrets: Record<SecretKey, SecretPresence>): string[] {
  const problems: string[] = [];
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
  return problems;
}

/** A CA file without TLS would be ignored. */
export function databaseTlsProblems(stack: ParsedStack): string[] {
  if (stack.database.caFile && !stack.database.tls) {
    return [
      `${key(["database", "caFile"])} = ${show(stack.database.caFile)}: it is only used with TLS; set database.tls: true, or remove caFile`,
    ];
  }
  return [];
}

/**
 * A NEW NODE the stack launches is reached over SSH. Its host key, which nobody knows yet, is
 * learned on the first connection to it alone (components/exec/executor.ts, hostKeyPolicyFor):
 * ssh.hostKeyPolicy strict keeps every other node and HAProxy host checked against knownHostsFile.
 */
export function newNodeSshProblems(stack: ParsedStack): string[] {
  if (!("existing" in stack.newNode) && !stack.ssh) {
    return [`${key(["ssh"])}: a provisioned NEW NODE is reached over SSH; set ssh.user`];
  }
  return [];
}

/** rollbackTo reruns upgradeCommand, which must then install the version it is given. */
export function rollbackCommandProblems(stack: ParsedStack): string[] {
  if (stack.rollbackTo && !VERSION_VARIABLES.test(stack.nodeCommands.upgradeCommand)) {
    return [
      `${key(["rollbackTo"])} = ${show(stack.rollbackTo)}: rollback runs nodeCommands.upgradeCommand with the rollback release, but the command uses neither $GLANCE_TARGET_VERSION nor $GLANCE_RELEASE, so it would install the same version again: pin the version in it (e.g. apt-get install --allow-downgrades "glance-api=2:\${GLANCE_TARGET_VERSION}*" ...) or remove rollbackTo`,
    ];
  }
  return [];
}

/** The apt example the README gives, in the shape of the default upgradeCommand. */
export const PRESTAGE_EXAMPLE =
  'DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"';

/** An apt install (apt-get or apt), and the flags that make it only download. */
const APT_INSTALL = /\bapt(-get)?\s+(\S+\s+)*install\b/;
const DOWNLOAD_ONLY = /(^|\s)(--download-only|-[a-z]*d[a-z]*)(\s|$)|Download-Only=(true|1|yes)\b/;

const PRESTAGE_UNSAFE = {
  stopCommand: "stops Glance",
  upgradeCommand: "installs the new release",
  startCommand: "starts Glance",
} as const;

/**
 * prestageCommand runs on a node that still serves (before its drain), so it must change nothing the
 * running Glance uses: refuse the node commands that stop, install or start, and an apt install that
 * would install rather than only download. The rollback does not pre-stage (it runs exactly the
 * release change: drain, stop, upgrade, start, admit), so nothing here concerns rollbackTo.
 */
export function prestageProblems(stack: ParsedStack): string[] {
  const commands = stack.nodeCommands;
  const prestage = commands.prestageCommand;
  if (prestage === undefined) return [];
  const at = `${key(["nodeCommands", "prestageCommand"])} = ${show(prestage)}: it runs on each node before its drain, while the node still serves`;
  const example = `e.g. ${PRESTAGE_EXAMPLE}`;
  const unsafe: Array<[string, string | undefined, string]> = [
    ...(Object.keys(PRESTAGE_UNSAFE) as Array<keyof typeof PRESTAGE_UNSAFE>).map(
      (name): [string, string | undefined, string] => [name, commands[name], PRESTAGE_UNSAFE[name]],
    ),
    ["serverMove.stopCommand", commands.serverMove?.stopCommand, "stops Glance"],
    ["serverMove.startCommand", commands.serverMove?.startCommand, "starts Glance"],
  ];
  const same = unsafe.find(([, command]) => command === prestage);
  if (same) {
    return [
      `${at}, and it is nodeCommands.${same[0]}, which ${same[2]} on a node in rotation: make it fetch what upgradeCommand installs without installing it (${example}), or remove prestageCommand`,
    ];
  }
  // Command by command: a -d in another command (rm -d, mkdir -p ... && cp -d) downloads nothing.
  const installing = simpleCommands(prestage).filter(
    (command) => APT_INSTALL.test(command) && !DOWNLOAD_ONLY.test(command),
  );
  if (installing.length > 0) {
    return [
      `${at}, and its apt install ${show(installing[0])} would install the packages on a node in rotation (their maintainer scripts may restart Glance on new code): add --download-only so it only fetches them (${example}), or remove prestageCommand`,
    ];
  }
  return [];
}

/**
 * nodeCommands.serverMove moves each node to another server: its start must start that server, not
 * the one startCommand (the rollback's start) starts.
 */
export function serverMoveProblems(stack: ParsedStack): string[] {
  const move = stack.nodeCommands.serverMove;
  if (move === undefined || move.startCommand !== stack.nodeCommands.startCommand) return [];
  return [
    `${key(["nodeCommands", "serverMove", "startCommand"])} = ${show(move.startCommand)}: it is nodeCommands.startCommand, which starts the old release's server (the rollback runs it), so the upgrade would move no node: make it start the new server (e.g. systemctl enable --now glance-api-uwsgi), or remove serverMove`,
  ];
}
