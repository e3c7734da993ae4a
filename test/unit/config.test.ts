import { describe, expect, it } from "vitest";
import {
  ConfigError,
  nodeCommandsSchema,
  parseConfigEntries,
  parseStackConfig,
  SecretKey,
  SecretPresence,
} from "../../plan/config";
import {
  albProvisionedStack,
  albStack,
  DB_ADMIN_PASSWORD,
  DB_PASSWORD,
  haproxyStack,
  Overrides,
  parsed,
  SSH_PRIVATE_KEY,
  StackFixture,
  toEntries,
} from "./fixtures";

const NS = "glance-rolling-upgrade";

/** Parses and returns the ConfigError's problems; fails the test if the config parses. */
function problemsOf(stack: StackFixture): { problems: string[]; message: string } {
  try {
    parseStackConfig(stack.raw, stack.secrets);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    return { problems: configError.problems, message: configError.message };
  }
  throw new Error("expected a ConfigError, but the config parsed");
}

function withSecrets(stack: StackFixture, changes: Partial<Record<SecretKey, SecretPresence>>): StackFixture {
  return { ...stack, secrets: { ...stack.secrets, ...changes } };
}

const absent: SecretPresence = { present: false, isSecret: false };
const plaintext: SecretPresence = { present: true, isSecret: false };
const secret: SecretPresence = { present: true, isSecret: true };

const twoHaproxy = (overrides: Overrides): StackFixture => haproxyStack(2, overrides);
const twoNodes = (a: Record<string, unknown>, b: Record<string, unknown>): Overrides => ({
  nodes: [
    { name: "node-1", address: "10.0.0.1", ...a },
    { name: "node-2", address: "10.0.0.2", ...b },
  ],
});

/**
 * Values of one block that contradict another block's (or that the block in use would ignore): each
 * gives exactly one problem line, and its neighbour, the nearest setup that is right, parses.
 */
interface CrossBlockCheck {
  name: string;
  stack: () => StackFixture;
  /** The whole problem line, and the only one. */
  problem: string;
  valid: () => StackFixture;
}

const OTHER_REGION_DB = "glance-db.abcdefghijkl.us-east-1.rds.amazonaws.com";
const ELBV2_VPC_ENDPOINT =
  "https://vpce-0123456789abcdef0-abcdefgh.elasticloadbalancing.eu-west-1.vpce.amazonaws.com";
const albNodes = (second: Record<string, unknown>): Overrides => ({
  nodes: [
    { name: "node-1", address: "10.0.1.1", instanceId: "i-00000000000000001" },
    { name: "node-2", address: "10.0.1.2", ...second },
  ],
});
const CUSTOM_VERSION_COMMAND = "dpkg-query -W -f='${Version}' glance-common";
/** The README's prestageCommand example: the default upgradeCommand's packages, downloaded only. */
const APT_PRESTAGE =
  'DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"';
const DEFAULT_UPGRADE =
  'systemctl mask --runtime glance-api && DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"';
const PRESTAGE_FIX = `(e.g. ${APT_PRESTAGE}), or remove prestageCommand`;

const crossBlockChecks: CrossBlockCheck[] = [
  {
    name: "RDS snapshot of another instance than database.host's",
    stack: () => albStack(2, { backup: { dbInstanceIdentifier: "glance-old" } }),
    problem: `${NS}:backup.dbInstanceIdentifier = "glance-old": database.host glance-db.abcdefghijkl.eu-west-1.rds.amazonaws.com is the endpoint of DB instance "glance-db", so the snapshot would be of another database than the one upgraded; use glance-db`,
    // A cluster or proxy endpoint, or a CNAME of the instance's endpoint, names no instance.
    valid: () =>
      albStack(2, {
        database: { host: "glance-proxy.proxy-abcdefghijkl.eu-west-1.rds.amazonaws.com" },
        backup: { dbInstanceIdentifier: "glance-old" },
      }),
  },
  {
    name: "RDS snapshot in another region than database.host's",
    stack: () => albStack(2, { backup: { region: "us-east-1" } }),
    problem: `${NS}:backup.region = "us-east-1": database.host glance-db.abcdefghijkl.eu-west-1.rds.amazonaws.com is in eu-west-1, and RDS snapshots an instance only in its own region; use eu-west-1`,
    // The database may be in another region than the ALB: the backup follows the database.
    valid: () => albStack(2, { database: { host: OTHER_REGION_DB }, backup: { region: "us-east-1" } }),
  },
  {
    name: "RDS snapshot in another region than a China-partition database.host's",
    stack: () =>
      albStack(2, { database: { host: "glance-db.abcdefghijkl.cn-north-1.rds.amazonaws.com.cn" } }),
    problem: `${NS}:backup.region = "eu-west-1": database.host glance-db.abcdefghijkl.cn-north-1.rds.amazonaws.com.cn is in cn-north-1, and RDS snapshots an instance only in its own region; use cn-north-1`,
    // Without backup.region the SDK's region applies: not known at plan.
    valid: () =>
      albStack(2, {
        database: { host: "glance-db.abcdefghijkl.cn-north-1.rds.amazonaws.com.cn" },
        backup: { region: undefined },
      }),
  },
  {
    name: "ALB region other than its target group's",
    stack: () => albStack(2, { loadBalancer: { region: "us-east-1" } }),
    problem: `${NS}:loadBalancer.region = "us-east-1": loadBalancer.targetGroupArn is in eu-west-1, and ELBv2 finds a target group only in its own region; use eu-west-1`,
    valid: () => albStack(2, { loadBalancer: { region: undefined } }),
  },
  {
    name: "CloudWatch alarms read through an ELBv2 VPC endpoint",
    stack: () =>
      albStack(2, {
        loadBalancer: { endpoint: ELBV2_VPC_ENDPOINT },
        bake: { windowSeconds: 60, alarmNames: ["glance-api-5xx"] },
      }),
    problem: `${NS}:loadBalancer.endpoint = ${JSON.stringify(ELBV2_VPC_ENDPOINT).slice(0, 77)}...: bake.alarmNames are read from CloudWatch through this endpoint too, and an ELBv2 endpoint cannot answer CloudWatch: remove it (an interface VPC endpoint with private DNS needs no override) or remove bake.alarmNames`,
    // An emulator answers every service on one endpoint.
    valid: () =>
      albStack(2, {
        loadBalancer: { endpoint: "http://127.0.0.1:5000" },
        bake: { windowSeconds: 60, alarmNames: ["glance-api-5xx"] },
      }),
  },
  {
    name: "HAProxy server name on an ALB node",
    stack: () => albStack(2, albNodes({ instanceId: "i-00000000000000002", haproxyServer: "glance-b" })),
    problem: `${NS}:nodes[1].haproxyServer = "glance-b": loadBalancer.type is alb, which has no HAProxy servers, so it would be ignored: remove it (the ALB target is the node's instanceId, or its address in an ip target group)`,
    valid: () => twoHaproxy(twoNodes({}, { haproxyServer: "glance-b" })),
  },
  {
    name: "EC2 instance id on an HAProxy node",
    stack: () => twoHaproxy(twoNodes({ instanceId: "i-0123456789abcdef0" }, {})),
    problem: `${NS}:nodes[0].instanceId = "i-0123456789abcdef0": loadBalancer.type is haproxy, which knows the node by its server name (haproxyServer, default the node name), so it would be ignored: remove it`,
    valid: () => albStack(2, albNodes({ instanceId: "i-0123456789abcdef0" })),
  },
  {
    name: "SSH port on a local node",
    stack: () => twoHaproxy(twoNodes({ transport: "local", sshPort: 2222 }, {})),
    problem: `${NS}:nodes[0].sshPort = 2222: node-1 uses transport local (its scripts run on this machine, not over SSH), so it would be ignored: remove it or set transport: ssh`,
    valid: () => twoHaproxy(twoNodes({ transport: "ssh", sshPort: 2222 }, {})),
  },
  {
    name: "ALB nodes registered some by instance id, some by IP address",
    stack: () => albStack(2, albNodes({})),
    problem: `${NS}:nodes[1].instanceId = (not set): node-2 would be registered by its IP address and node-1 by its instance id (nodes[0].instanceId), but a target group holds one target type: set instanceId on every node (an instance target group) or on none (an ip target group)`,
    valid: () => albStack(2, albNodes({ instanceId: "i-00000000000000002" })),
  },
  {
    name: "provisioned NEW NODE (an instance) joining an ip target group",
    stack: () => albProvisionedStack(1, { nodes: [{ name: "node-1", address: "10.0.1.1" }] }),
    problem: `${NS}:newNode.provision: the stack joins the NEW NODE to the target group by its instance id, but the nodes are registered by IP address (no instanceId), and an ip target group refuses an instance: set every node's instanceId (an instance target group) or use newNode.existing`,
    valid: () =>
      albProvisionedStack(1, {
        nodes: [{ name: "node-1", address: "10.0.1.1", instanceId: "i-0123456789abcdef0" }],
      }),
  },
  {
    name: "provisioned NEW NODE with a health URL that does not name {address}",
    stack: () =>
      albProvisionedStack(1, { nodeCommands: { healthUrl: "http://glance.internal:9292/healthcheck" } }),
    problem: `${NS}:nodeCommands.healthUrl = "http://glance.internal:9292/healthcheck": the NEW NODE the stack launches (newNode.provision) is health-checked at this URL with {address} replaced by its private IP, so without {address} its health gate would check another host: write it with {address}, e.g. http://{address}:9292/healthcheck`,
    valid: () =>
      albProvisionedStack(1, { nodeCommands: { healthUrl: "https://{address}:8443/healthcheck" } }),
  },
  {
    name: "provisioned NEW NODE tagged with another Name",
    stack: () => albProvisionedStack(1, { newNode: { provision: { tags: { Name: "glance-7" } } } }),
    problem: `${NS}:newNode.provision.tags.Name = "glance-7": the stack always sets the Name tag to newNode.provision.name, here "glance-new", and this would replace it: remove it`,
    valid: () => albProvisionedStack(1, { newNode: { provision: { tags: { Name: "glance-new" } } } }),
  },
  {
    name: "provisioned NEW NODE tagged with another glance:release",
    stack: () => albProvisionedStack(1, { newNode: { provision: { tags: { "glance:release": "2023.2" } } } }),
    problem: `${NS}:newNode.provision.tags.glance:release = "2023.2": the stack always sets the glance:release tag to targetRelease (and updates it with every release), here "2024.1", and this would replace it: remove it`,
    valid: () => albProvisionedStack(1, { newNode: { provision: { tags: { "glance:release": "2024.1" } } } }),
  },
  {
    name: "targetVersion of another release than targetRelease",
    stack: () => twoHaproxy({ targetRelease: "2024.2" }),
    problem: `${NS}:targetVersion = "28.2.0": that is Glance 28, the 2024.1 release, but ${NS}:targetRelease is "2024.2" (Glance 29.x): set the version 2024.2 installs, or the release name 2024.1`,
    valid: () => twoHaproxy({ targetRelease: "2024.2", targetVersion: "29.2.1" }),
  },
  {
    name: "a release this program does not list",
    stack: () => twoHaproxy({ targetRelease: "2027.1", targetVersion: "34.0.0" }),
    problem: `${NS}:targetRelease = "2027.1" with ${NS}:targetVersion "34.0.0": not a Glance release this program knows (2023.1 (Glance 26), 2023.2 (Glance 27), 2024.1 (Glance 28), 2024.2 (Glance 29), 2025.1 (Glance 30), 2025.2 (Glance 31), 2026.1 (Glance 32), 2026.2 (Glance 33)): name the OpenStack release (e.g. 2025.1) and the Glance version it installs; a newer release needs a version of this program that lists it`,
    valid: () => twoHaproxy({ targetRelease: "2026.2", targetVersion: "33.0.0" }),
  },
  {
    name: "a skip-level jump from a release that is not SLURP",
    // 2023.2 -> 2024.2 skips 2024.1, and 2023.2 is not a SLURP release.
    stack: () =>
      twoHaproxy({
        targetRelease: "2024.2",
        targetVersion: "29.2.1",
        rollbackTo: { release: "2023.2", version: "27.1.1" },
      }),
    problem: `${NS}:targetRelease = "2024.2": 2023.2 -> 2024.2 is not an upgrade OpenStack supports (only the next release, or from one SLURP release to the next: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1); upgrade in supported steps, one upgrade each: 2023.2 -> 2024.1 -> 2024.2`,
    valid: () =>
      twoHaproxy({
        targetRelease: "2024.2",
        targetVersion: "29.2.1",
        rollbackTo: { release: "2024.1", version: "28.2.0" },
      }),
  },
  {
    name: "a jump over two releases, from a SLURP release",
    stack: () =>
      twoHaproxy({
        targetRelease: "2025.1",
        targetVersion: "30.2.0",
        rollbackTo: { release: "2023.1", version: "26.1.0" },
      }),
    problem: `${NS}:targetRelease = "2025.1": 2023.1 -> 2025.1 is not an upgrade OpenStack supports (only the next release, or from one SLURP release to the next: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1); upgrade in supported steps, one upgrade each: 2023.1 -> 2024.1 -> 2025.1`,
    // SLURP to SLURP: 2024.1 -> 2025.1 skips 2024.2.
    valid: () =>
      twoHaproxy({
        targetRelease: "2025.1",
        targetVersion: "30.2.0",
        rollbackTo: { release: "2024.1", version: "28.2.0" },
      }),
  },
  {
    name: "rollbackTo newer than targetRelease (the releases swapped)",
    stack: () =>
      twoHaproxy({
        targetRelease: "2023.2",
        targetVersion: "27.1.1",
        rollbackTo: { release: "2024.1", version: "28.2.0" },
      }),
    problem: `${NS}:rollbackTo.release = "2024.1": rollbackTo names the release the fleet runs before this upgrade, and targetRelease "2023.2" is older: set targetRelease to the release to upgrade to, and rollbackTo to the one the nodes run now (to go back to an older release, the README's rollback section says how)`,
    valid: () =>
      twoHaproxy({
        targetRelease: "2024.1",
        targetVersion: "28.2.0",
        rollbackTo: { release: "2023.2", version: "27.1.1" },
      }),
  },
  {
    name: "rollbackTo.version of another release than rollbackTo.release",
    stack: () => twoHaproxy({ rollbackTo: { release: "2023.2", version: "26.1.0" } }),
    problem: `${NS}:rollbackTo.version = "26.1.0": that is Glance 26, the 2023.1 release, but ${NS}:rollbackTo.release is "2023.2" (Glance 27.x): set the version 2023.2 installs, or the release name 2023.1`,
    valid: () => twoHaproxy({ rollbackTo: { release: "2023.1", version: "26.1.0" } }),
  },
  {
    name: "rollbackTo.version the same as targetVersion",
    stack: () => twoHaproxy({ rollbackTo: { release: "2024.1", version: "28.2.0" } }),
    problem: `${NS}:rollbackTo.version = "28.2.0": the same as targetVersion, so rollback would reinstall the version it rolls back from and its check could not tell the difference: use the version the nodes ran before the upgrade, as versionCommand printed it there (e.g. 27.1.1)`,
    valid: () => twoHaproxy({ rollbackTo: { release: "2023.2", version: "27.1.1" } }),
  },
  {
    name: "targetVersion a prefix of rollbackTo.version (an old node passes the upgrade's checks)",
    // A package rebuild: the old nodes run 28.1.0-0ubuntu1, the upgrade installs 28.1.0-0ubuntu2.
    stack: () =>
      twoHaproxy({ targetVersion: "28.1.0", rollbackTo: { release: "2024.1", version: "28.1.0-0ubuntu1" } }),
    problem: `${NS}:targetVersion = "28.1.0": rollbackTo.version "28.1.0-0ubuntu1", the version before the upgrade, starts with it, and the upgrade's version check and fleet/verify match by dotted prefix, so a node still on the old version would pass them (and db contract could run): write the full version the upgrade installs`,
    valid: () =>
      twoHaproxy({
        targetVersion: "28.1.0-0ubuntu2",
        rollbackTo: { release: "2024.1", version: "28.1.0-0ubuntu1" },
      }),
  },
  {
    name: "rollbackTo.version a prefix of targetVersion (a node not rolled back passes rollback's check)",
    stack: () =>
      twoHaproxy({
        targetRelease: "2023.2",
        targetVersion: "27.1.1-0ubuntu2",
        rollbackTo: { release: "2023.2", version: "27.1.1" },
      }),
    problem: `${NS}:rollbackTo.version = "27.1.1": targetVersion "27.1.1-0ubuntu2" starts with it, and rollback's version check matches by dotted prefix, so a node still on the new version would pass it: write the full version rollback installs`,
    valid: () =>
      twoHaproxy({
        targetRelease: "2023.2",
        targetVersion: "27.1.1-0ubuntu2",
        rollbackTo: { release: "2023.2", version: "27.1.1-0ubuntu1" },
      }),
  },
  {
    name: "targetVersion with a Debian epoch and the default versionCommand",
    stack: () => twoHaproxy({ targetVersion: "2:28.2.0" }),
    problem: `${NS}:targetVersion = "2:28.2.0": nodeCommands.versionCommand is the default, which prints the version without its Debian epoch, so no node would ever report a version starting with "2:"; write "28.2.0"`,
    valid: () =>
      twoHaproxy({
        targetVersion: "2:28.2.0",
        nodeCommands: {
          versionCommand: CUSTOM_VERSION_COMMAND,
          upgradeCommand: 'apt-get install -y --allow-downgrades "glance-api=${GLANCE_TARGET_VERSION}*"',
        },
      }),
  },
  {
    name: "targetVersion with a Debian epoch and the default upgradeCommand",
    stack: () =>
      twoHaproxy({ targetVersion: "2:28.2.0", nodeCommands: { versionCommand: CUSTOM_VERSION_COMMAND } }),
    problem: `${NS}:targetVersion = "2:28.2.0": nodeCommands.upgradeCommand is the default, which adds the epoch itself ("glance-api=2:\${GLANCE_TARGET_VERSION}*"), so apt would be asked for glance-api=2:2:28.2.0*; write "28.2.0"`,
    valid: () => twoHaproxy({ nodeCommands: { versionCommand: CUSTOM_VERSION_COMMAND } }),
  },
  {
    name: "rollbackTo.version with a Debian epoch and the default versionCommand",
    stack: () => twoHaproxy({ rollbackTo: { release: "2023.2", version: "2:27.1.1" } }),
    problem: `${NS}:rollbackTo.version = "2:27.1.1": nodeCommands.versionCommand is the default, which prints the version without its Debian epoch, so no node would ever report a version starting with "2:"; write "27.1.1"`,
    valid: () => twoHaproxy({ rollbackTo: { release: "2023.2", version: "27.1.1" } }),
  },
  {
    name: "prestageCommand that is the default upgradeCommand (it would install on a serving node)",
    stack: () => twoHaproxy({ nodeCommands: { prestageCommand: DEFAULT_UPGRADE } }),
    problem: `${NS}:nodeCommands.prestageCommand = "systemctl mask --runtime glance-api && DEBIAN_FRONTEND=noninteractive apt-ge...: it runs on each node before its drain, while the node still serves, and it is nodeCommands.upgradeCommand, which installs the new release on a node in rotation: make it fetch what upgradeCommand installs without installing it ${PRESTAGE_FIX}`,
    valid: () => twoHaproxy({ nodeCommands: { prestageCommand: APT_PRESTAGE } }),
  },
  {
    name: "prestageCommand that is the stopCommand (it would stop a serving node)",
    stack: () =>
      twoHaproxy({
        nodeCommands: { stopCommand: "docker stop glance-api", prestageCommand: "docker stop glance-api" },
      }),
    problem: `${NS}:nodeCommands.prestageCommand = "docker stop glance-api": it runs on each node before its drain, while the node still serves, and it is nodeCommands.stopCommand, which stops Glance on a node in rotation: make it fetch what upgradeCommand installs without installing it ${PRESTAGE_FIX}`,
    valid: () =>
      twoHaproxy({
        nodeCommands: {
          stopCommand: "docker stop glance-api",
          prestageCommand: "docker pull glance:$GLANCE_RELEASE",
        },
      }),
  },
  {
    name: "prestageCommand with an apt install that is not download-only",
    stack: () =>
      twoHaproxy({
        nodeCommands: { prestageCommand: 'sudo apt-get install -y "glance-api=2:${GLANCE_TARGET_VERSION}*"' },
      }),
    problem: `${NS}:nodeCommands.prestageCommand = "sudo apt-get install -y \\"glance-api=2:\${GLANCE_TARGET_VERSION}*\\"": it runs on each node before its drain, while the node still serves, and its apt install "sudo apt-get install -y \\"glance-api=2:\${GLANCE_TARGET_VERSION}*\\"" would install the packages on a node in rotation (their maintainer scripts may restart Glance on new code): add --download-only so it only fetches them ${PRESTAGE_FIX}`,
    // apt's short form of --download-only, in a group of flags
    valid: () =>
      twoHaproxy({
        nodeCommands: {
          prestageCommand: 'sudo apt-get install -yd "glance-api=2:${GLANCE_TARGET_VERSION}*"',
        },
      }),
  },
  {
    // Finding 11: the download-only check passed through the -d of another command.
    name: "prestageCommand whose apt install is not download-only, with a -d in another command",
    stack: () =>
      twoHaproxy({
        nodeCommands: { prestageCommand: "apt-get install -y glance-api && rm -d /tmp/glance-stage" },
      }),
    problem: `${NS}:nodeCommands.prestageCommand = "apt-get install -y glance-api && rm -d /tmp/glance-stage": it runs on each node before its drain, while the node still serves, and its apt install "apt-get install -y glance-api" would install the packages on a node in rotation (their maintainer scripts may restart Glance on new code): add --download-only so it only fetches them ${PRESTAGE_FIX}`,
    valid: () =>
      twoHaproxy({
        nodeCommands: { prestageCommand: "apt-get install -d -y glance-api && rm -d /tmp/glance-stage" },
      }),
  },
  {
    name: "prestageCommand whose -d is inside another command's quoted argument",
    stack: () =>
      twoHaproxy({ nodeCommands: { prestageCommand: "apt-get install -y glance-api; echo ' -d'" } }),
    problem: `${NS}:nodeCommands.prestageCommand = "apt-get install -y glance-api; echo ' -d'": it runs on each node before its drain, while the node still serves, and its apt install "apt-get install -y glance-api" would install the packages on a node in rotation (their maintainer scripts may restart Glance on new code): add --download-only so it only fetches them ${PRESTAGE_FIX}`,
    // A separator inside quotes does not split: this is one apt command, download-only.
    valid: () =>
      twoHaproxy({
        nodeCommands: { prestageCommand: "apt-get install --download-only -y 'glance-api' && echo 'a; b'" },
      }),
  },
  {
    // Finding 11: nothing said the operator meant a drain that may leave no node serving.
    name: "minHealthy 0 without its acknowledgement",
    stack: () => twoHaproxy({ loadBalancer: { minHealthy: 0 } }),
    problem: `${NS}:loadBalancer.minHealthy = 0: a drain may then take the last healthy node out of rotation, an outage while the upgrade runs; use at least 1, or, if the fleet may go dark (a maintenance window), set ${NS}:acknowledge.minHealthyZero: true`,
    valid: () => twoHaproxy({ loadBalancer: { minHealthy: 0 }, acknowledge: { minHealthyZero: true } }),
  },
  {
    name: "tls false to an RDS database",
    stack: () => albStack(2, { database: { tls: false } }),
    problem: `${NS}:database.tls = false with database.host "glance-db.abcdefghijkl.eu-west-1.rds.amazonaws.com", an RDS database reached over the network: every query, its answers and the mysqldump backup would travel unencrypted, and nothing would check the server is the database; set database.tls: true (with caFile: the RDS CA bundle), or, where the network is trusted, set ${NS}:acknowledge.databaseWithoutTls: true`,
    valid: () => albStack(2, { database: { tls: false }, acknowledge: { databaseWithoutTls: true } }),
  },
  {
    name: "tls left at its default to an RDS database behind a CNAME (the snapshot says RDS)",
    stack: () => albStack(2, { database: { host: "glance-db.internal", tls: undefined } }),
    problem: `${NS}:database.tls = false with database.host "glance-db.internal", an RDS database reached over the network: every query, its answers and the mysqldump backup would travel unencrypted, and nothing would check the server is the database; set database.tls: true (with caFile: the RDS CA bundle), or, where the network is trusted, set ${NS}:acknowledge.databaseWithoutTls: true`,
    valid: () => albStack(2, { database: { host: "glance-db.internal" } }),
  },
  {
    name: "an ALB endpoint over http to another host",
    stack: () => albStack(2, { loadBalancer: { endpoint: "http://aws-emulator.lab:5000" } }),
    problem: `${NS}:loadBalancer.endpoint = "http://aws-emulator.lab:5000": plain http to another host, so the ELBv2 answers the drain and admit decide on would travel unencrypted and could be changed on the way; use https, or, for an emulator on a network you trust, set ${NS}:acknowledge.awsEndpointOverHttp: true`,
    // An emulator on this machine (moto in the tests) is loopback: nothing between.
    valid: () => albStack(2, { loadBalancer: { endpoint: "http://127.0.0.1:5000" } }),
  },
  {
    name: "an RDS snapshot endpoint over http to another host",
    stack: () => albStack(2, { backup: { endpoint: "http://10.0.0.9:5000" } }),
    problem: `${NS}:backup.endpoint = "http://10.0.0.9:5000": plain http to another host, so the RDS snapshot requests and answers would travel unencrypted and could be changed on the way; use https, or, for an emulator on a network you trust, set ${NS}:acknowledge.awsEndpointOverHttp: true`,
    valid: () => albStack(2, { backup: { endpoint: "https://rds.eu-west-1.amazonaws.com" } }),
  },
  {
    name: "a TCP runtime API on a network address",
    stack: () => twoHaproxy({ loadBalancer: { runtimeApi: "10.0.0.5:9999" } }),
    problem: `${NS}:loadBalancer.runtimeApi = "10.0.0.5:9999": HAProxy's runtime API has no authentication, so a TCP socket on a network address lets anyone who reaches it take servers in and out of rotation, and the drain's answers travel unencrypted; reach it over SSH instead ({ssh: {host: "10.0.0.5", user}, socket: /run/haproxy/admin.sock}, with the stack's ssh settings), or, on a management network you trust, set ${NS}:acknowledge.runtimeApiOverNetwork: true`,
    valid: () => twoHaproxy({ loadBalancer: { runtimeApi: "127.0.0.1:9999" } }),
  },
  {
    name: "a TCP runtime API on a network address, in a list",
    stack: () =>
      twoHaproxy({ loadBalancer: { runtimeApi: ["unix:/run/haproxy/admin.sock", "lb-b.internal:9999"] } }),
    problem: `${NS}:loadBalancer.runtimeApi[1] = "lb-b.internal:9999": HAProxy's runtime API has no authentication, so a TCP socket on a network address lets anyone who reaches it take servers in and out of rotation, and the drain's answers travel unencrypted; reach it over SSH instead ({ssh: {host: "lb-b.internal", user}, socket: /run/haproxy/admin.sock}, with the stack's ssh settings), or, on a management network you trust, set ${NS}:acknowledge.runtimeApiOverNetwork: true`,
    valid: () =>
      twoHaproxy({
        loadBalancer: {
          runtimeApi: [
            "unix:/run/haproxy/admin.sock",
            { ssh: { host: "lb-b.internal", user: "ubuntu" }, socket: "/run/haproxy/admin.sock" },
          ],
        },
      }),
  },
  {
    name: "an acknowledgement with nothing to acknowledge",
    stack: () => twoHaproxy({ acknowledge: { minHealthyZero: true } }),
    problem: `${NS}:acknowledge.minHealthyZero = true: nothing in this config needs it, so it would silently accept the risk for a later edit; remove it`,
    valid: () => twoHaproxy({ acknowledge: { minHealthyZero: false } }),
  },
  {
    name: "a mysqldump backup path without {release}",
    stack: () => twoHaproxy({ backup: { path: "/var/backups/glance.sql" } }),
    problem: `${NS}:backup.path = "/var/backups/glance.sql": without {release}, the next upgrade's backup overwrites this one, the only copy of the database before this upgrade; write it with {release}, e.g. /var/backups/glance-before-{release}.sql`,
    valid: () => twoHaproxy({ backup: { path: "/var/backups/glance-before-{release}.sql" } }),
  },
  {
    name: "errorBudget with the bake off",
    stack: () => twoHaproxy({ bake: { errorBudget: 3 } }),
    problem: `${NS}:bake.errorBudget = 3: the bake is off (windowSeconds 0), so no error would be counted: set windowSeconds (e.g. 60) or remove errorBudget`,
    valid: () => twoHaproxy({ bake: { windowSeconds: 60, errorBudget: 3 } }),
  },
  {
    name: "errorBudget with an ALB, whose bake counts no errors",
    stack: () => albStack(2, { bake: { windowSeconds: 60, errorBudget: 3 } }),
    problem: `${NS}:bake.errorBudget = 3: an ALB bake counts no errors (it watches the target's health and bake.alarmNames), so this budget would be ignored: remove errorBudget, and watch the ALB's 5xx with a CloudWatch alarm in bake.alarmNames`,
    valid: () => albStack(2, { bake: { windowSeconds: 60, errorBudget: 0, alarmNames: ["glance-api-5xx"] } }),
  },
];

interface BadConfig {
  name: string;
  stack: () => StackFixture;
  /** Fragments that must all appear in ONE problem line: the full key, the shown value, the hint. */
  shows: string[];
}

const badConfigs: BadConfig[] = [
  {
    name: "missing targetRelease",
    stack: () => twoHaproxy({ targetRelease: undefined }),
    shows: [`${NS}:targetRelease = (not set)`, "is required"],
  },
  {
    name: "release with shell characters",
    stack: () => twoHaproxy({ targetRelease: "2024.1; rm -rf /" }),
    shows: [`${NS}:targetRelease = "2024.1; rm -rf /"`, "use letters, digits"],
  },
  {
    name: "release given as a YAML number",
    stack: () => twoHaproxy({ targetRelease: 2024.1 }),
    shows: [`${NS}:targetRelease = 2024.1`, "expected string"],
  },
  {
    // Finding 11: "2" prefix-matched 27.1.1, so the upgrade check and fleet/verify passed old nodes.
    name: "targetVersion that is not a full version",
    stack: () => twoHaproxy({ targetVersion: "2" }),
    shows: [`${NS}:targetVersion = "2"`, "at least major.minor.patch (e.g. 28.2.0)"],
  },
  {
    name: "targetVersion with two numbers only (28.2 matches 28.2.0 and 28.2.1)",
    stack: () => twoHaproxy({ targetVersion: "28.2" }),
    shows: [`${NS}:targetVersion = "28.2"`, "at least major.minor.patch (e.g. 28.2.0)"],
  },
  {
    name: "rollbackTo.version that is not a full version",
    stack: () => twoHaproxy({ rollbackTo: { release: "2023.2", version: "27.1" } }),
    shows: [`${NS}:rollbackTo.version = "27.1"`, "at least major.minor.patch (e.g. 27.1.1)"],
  },
  {
    name: "targetVersion with a space",
    stack: () => twoHaproxy({ targetVersion: "28.2.0 beta" }),
    shows: [`${NS}:targetVersion = "28.2.0 beta"`, "package version"],
  },
  {
    name: "missing nodes",
    stack: () => twoHaproxy({ nodes: undefined }),
    shows: [`${NS}:nodes = (not set)`, "is required"],
  },
  {
    name: "empty node list",
    stack: () => twoHaproxy({ nodes: [] }),
    shows: [`${NS}:nodes = []`, "list at least one node"],
  },
  {
    name: "nodes given as a string, not a list",
    stack: () => twoHaproxy({ nodes: "node-1,node-2" }),
    shows: [`${NS}:nodes = "node-1,node-2"`, "expected array"],
  },
  {
    name: "one node and no provisioned NEW NODE",
    stack: () => haproxyStack(1),
    shows: [`${NS}:nodes`, "at least 2 nodes", "got 1"],
  },
  {
    name: "maxUnavailable equal to the fleet size",
    stack: () => haproxyStack(3, { loadBalancer: { maxUnavailable: 3 } }),
    shows: [`${NS}:loadBalancer.maxUnavailable = 3`, "below the fleet size (3)", "use 1..2"],
  },
  {
    name: "maxUnavailable above the fleet size (provisioned NEW NODE counts)",
    stack: () => albProvisionedStack(1, { loadBalancer: { maxUnavailable: 5 } }),
    shows: [`${NS}:loadBalancer.maxUnavailable = 5`, "below the fleet size (2)", "use 1"],
  },
  {
    name: "maxUnavailable 0",
    stack: () => twoHaproxy({ loadBalancer: { maxUnavailable: 0 } }),
    shows: [`${NS}:loadBalancer.maxUnavailable = 0`, ">=1"],
  },
  {
    name: "minHealthy above fleet minus maxUnavailable",
    stack: () => haproxyStack(3, { loadBalancer: { maxUnavailable: 2, minHealthy: 2 } }),
    shows: [`${NS}:loadBalancer.minHealthy = 2`, "with 3 nodes and maxUnavailable 2 at most 1"],
  },
  {
    name: "duplicate node names",
    stack: () => twoHaproxy(twoNodes({}, { name: "node-1" })),
    shows: [`${NS}:nodes[1]`, "duplicate name node-1", "already used by node-1"],
  },
  {
    name: "duplicate SSH addresses",
    stack: () => twoHaproxy(twoNodes({}, { address: "10.0.0.1", healthUrl: "http://10.0.0.9:9292/h" })),
    shows: [`${NS}:nodes[1]`, "duplicate address 10.0.0.1:22", "already used by node-1"],
  },
  {
    name: "duplicate health URLs",
    stack: () =>
      twoHaproxy(
        twoNodes(
          { healthUrl: "http://lb.internal:9292/healthcheck" },
          { healthUrl: "http://lb.internal:9292/healthcheck" },
        ),
      ),
    shows: [`${NS}:nodes[1]`, "duplicate health URL http://lb.internal:9292/healthcheck"],
  },
  {
    name: "duplicate health URLs after {address} is resolved (two local nodes on one host)",
    stack: () =>
      twoHaproxy(
        twoNodes({ address: "127.0.0.1", transport: "local" }, { address: "127.0.0.1", transport: "local" }),
      ),
    shows: [`${NS}:nodes[1]`, "duplicate health URL http://127.0.0.1:9292/healthcheck"],
  },
  {
    name: "duplicate EC2 instance ids",
    stack: () =>
      albStack(2, {
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-0123456789abcdef0" },
          { name: "node-2", address: "10.0.1.2", instanceId: "i-0123456789abcdef0" },
        ],
      }),
    shows: [`${NS}:nodes[1]`, "duplicate instance i-0123456789abcdef0"],
  },
  {
    name: "duplicate HAProxy server names",
    stack: () => twoHaproxy(twoNodes({ haproxyServer: "glance" }, { haproxyServer: "glance" })),
    shows: [`${NS}:nodes[1]`, "duplicate HAProxy server glance"],
  },
  {
    name: "newNode.existing names an unknown node",
    stack: () => twoHaproxy({ newNode: { existing: "node-9" } }),
    shows: [`${NS}:newNode.existing = "node-9"`, "no such node", "node-1, node-2"],
  },
  {
    name: "newNode not set",
    stack: () => twoHaproxy({ newNode: undefined }),
    shows: [`${NS}:newNode = (not set)`, "set either {existing: <node name>} or {provision:"],
  },
  {
    name: "newNode with both existing and provision",
    stack: () => albProvisionedStack(2, { newNode: { existing: "node-1" } }),
    shows: [`${NS}:newNode = {"provision":`, "set either {existing: <node name>} or {provision:"],
  },
  {
    name: "provision with both ami and launchTemplateId",
    stack: () =>
      albProvisionedStack(1, { newNode: { provision: { launchTemplateId: "lt-0123456789abcdef0" } } }),
    shows: [`${NS}:newNode.provision`, "set exactly one of 'ami' or 'launchTemplateId'"],
  },
  {
    name: "provision with neither ami nor launchTemplateId",
    stack: () => albProvisionedStack(1, { newNode: { provision: { ami: undefined } } }),
    shows: [`${NS}:newNode.provision`, "set exactly one of 'ami' or 'launchTemplateId'"],
  },
  {
    name: "provision with a malformed AMI id",
    stack: () => albProvisionedStack(1, { newNode: { provision: { ami: "ami-xyz" } } }),
    shows: [`${NS}:newNode.provision.ami = "ami-xyz"`, "AMI id"],
  },
  {
    name: "provision behind HAProxy",
    stack: () => ({
      ...twoHaproxy({}),
      raw: { ...twoHaproxy({}).raw, newNode: albProvisionedStack(1).raw.newNode },
    }),
    shows: [`${NS}:newNode.provision`, "joins an ALB target group", "use newNode.existing"],
  },
  {
    name: "provisioned NEW NODE named like an existing node",
    stack: () => albProvisionedStack(2, { newNode: { provision: { name: "node-2" } } }),
    shows: [`${NS}:newNode.provision.name = "node-2"`, "clashes with an existing node's name"],
  },
  {
    name: "provisioned NEW NODE with the command executor and no ssh settings",
    stack: () =>
      albProvisionedStack(1, {
        ssh: undefined,
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-0123456789abcdef0", transport: "local" },
        ],
      }),
    shows: [`${NS}:ssh`, "provisioned NEW NODE is reached over SSH"],
  },
  {
    name: "unknown top-level key (typo)",
    stack: () => twoHaproxy({ loadBalancr: { type: "haproxy" } }),
    shows: [`${NS}:loadBalancr: unknown key`, "fix the spelling"],
  },
  {
    name: "unknown nested key (typo)",
    stack: () => twoHaproxy({ loadBalancer: { maxUnavailble: 1 } }),
    shows: [`${NS}:loadBalancer.maxUnavailble: unknown key`],
  },
  {
    name: "unknown key in a node",
    stack: () => twoHaproxy(twoNodes({}, { adress: "10.0.0.3" })),
    shows: [`${NS}:nodes[1].adress: unknown key`],
  },
  {
    name: "database port out of range",
    stack: () => twoHaproxy({ database: { port: 70000 } }),
    shows: [`${NS}:database.port = 70000`, "<=65535"],
  },
  {
    name: "node sshPort 0",
    stack: () => twoHaproxy(twoNodes({ sshPort: 0 }, {})),
    shows: [`${NS}:nodes[0].sshPort = 0`, ">=1"],
  },
  {
    name: "ssh port given as a string",
    stack: () => twoHaproxy({ ssh: { port: "22" } }),
    shows: [`${NS}:ssh.port = "22"`, "expected number"],
  },
  {
    name: "negative drain timeout",
    stack: () => twoHaproxy({ loadBalancer: { drainTimeoutSeconds: -5 } }),
    shows: [`${NS}:loadBalancer.drainTimeoutSeconds = -5`, ">=1"],
  },
  {
    name: "negative import drain timeout",
    stack: () => twoHaproxy({ loadBalancer: { importDrainTimeoutSeconds: -1 } }),
    shows: [`${NS}:loadBalancer.importDrainTimeoutSeconds = -1`, ">=0"],
  },
  {
    name: "an import timeout choice that is neither halt nor proceed",
    stack: () => twoHaproxy({ loadBalancer: { onImportTimeout: "ignore" } }),
    shows: [`${NS}:loadBalancer.onImportTimeout = "ignore"`, '"halt"', '"proceed"'],
  },
  {
    name: "a self reference URL that is not an http(s) URL",
    stack: () => twoHaproxy(twoNodes({ selfReferenceUrl: "glance-1:9292" }, {})),
    shows: [`${NS}:nodes[0].selfReferenceUrl = "glance-1:9292"`, "http(s) URL"],
  },
  {
    name: "fractional health timeout",
    stack: () => twoHaproxy({ loadBalancer: { healthTimeoutSeconds: 1.5 } }),
    shows: [`${NS}:loadBalancer.healthTimeoutSeconds = 1.5`, "expected int"],
  },
  {
    name: "bad exec value",
    stack: () => twoHaproxy({ exec: "remote" }),
    shows: [`${NS}:exec = "remote"`, '"native"|"command"'],
  },
  {
    name: "bad transport",
    stack: () => twoHaproxy(twoNodes({ transport: "telnet" }, {})),
    shows: [`${NS}:nodes[0].transport = "telnet"`, '"ssh"|"local"'],
  },
  {
    name: "ssh nodes without ssh settings",
    stack: () => twoHaproxy({ ssh: undefined }),
    shows: [`${NS}:nodes[1].transport = "ssh"`, `set ${NS}:ssh`],
  },
  {
    name: "ssh user with shell characters",
    stack: () => twoHaproxy({ ssh: { user: "root; id" } }),
    shows: [`${NS}:ssh.user = "root; id"`, "POSIX user name"],
  },
  {
    name: "unknown host key policy",
    stack: () => twoHaproxy({ ssh: { hostKeyPolicy: "yes" } }),
    shows: [`${NS}:ssh.hostKeyPolicy = "yes"`],
  },
  {
    name: "ALB node with a DNS address and no instanceId",
    stack: () =>
      albStack(2, {
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-0123456789abcdef0" },
          { name: "node-2", address: "glance-2.internal" },
        ],
      }),
    shows: [`${NS}:nodes[1].instanceId`, "EC2 instance id"],
  },
  {
    name: "malformed instanceId",
    stack: () =>
      albStack(2, {
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-XYZ" },
          { name: "node-2", address: "10.0.1.2" },
        ],
      }),
    shows: [`${NS}:nodes[0].instanceId = "i-XYZ"`, "EC2 instance id"],
  },
  {
    name: "bad target group ARN",
    stack: () =>
      albStack(2, { loadBalancer: { targetGroupArn: "arn:aws:ec2:eu-west-1:123:targetgroup/x/1" } }),
    shows: [
      `${NS}:loadBalancer.targetGroupArn = "arn:aws:ec2:eu-west-1:123:targetgroup/x/1"`,
      "target group ARN",
    ],
  },
  {
    name: "unknown load balancer type",
    stack: () => twoHaproxy({ loadBalancer: { type: "nginx" } }),
    shows: [`${NS}:loadBalancer.type = "nginx"`, "'alb' | 'haproxy'"],
  },
  {
    name: "HAProxy runtimeApi without unix: prefix",
    stack: () => twoHaproxy({ loadBalancer: { runtimeApi: "/run/haproxy/admin.sock" } }),
    shows: [
      `${NS}:loadBalancer.runtimeApi = "/run/haproxy/admin.sock"`,
      "unix:/path/to/admin.sock or HOST:PORT",
    ],
  },
  {
    name: "HAProxy runtimeApi host without port",
    stack: () => twoHaproxy({ loadBalancer: { runtimeApi: "127.0.0.1" } }),
    shows: [`${NS}:loadBalancer.runtimeApi = "127.0.0.1"`],
  },
  {
    name: "HAProxy backend with a space",
    stack: () => twoHaproxy({ loadBalancer: { backend: "glance api" } }),
    shows: [`${NS}:loadBalancer.backend = "glance api"`],
  },
  {
    name: "dbPassword missing",
    stack: () => withSecrets(haproxyStack(2), { dbPassword: absent }),
    shows: [`${NS}:dbPassword is required`, "pulumi config set --secret dbPassword"],
  },
  {
    name: "dbPassword stored in plaintext",
    stack: () => withSecrets(haproxyStack(2), { dbPassword: plaintext }),
    shows: [`${NS}:dbPassword is stored in plaintext`, "--secret dbPassword", "rotate"],
  },
  {
    name: "sshPrivateKey stored in plaintext",
    stack: () => withSecrets(haproxyStack(2), { sshPrivateKey: plaintext }),
    shows: [`${NS}:sshPrivateKey is stored in plaintext`],
  },
  {
    name: "adminUser without dbAdminPassword",
    stack: () => withSecrets(albStack(2), { dbAdminPassword: absent }),
    shows: [`${NS}:dbAdminPassword is required when database.adminUser is set`],
  },
  {
    name: "dbAdminPassword without adminUser",
    stack: () => withSecrets(haproxyStack(2), { dbAdminPassword: secret }),
    shows: [`${NS}:dbAdminPassword is set but database.adminUser is not`],
  },
  {
    name: "command with a newline (injection)",
    stack: () => twoHaproxy({ nodeCommands: { stopCommand: "systemctl stop glance-api\nrm -rf /" } }),
    shows: [`${NS}:nodeCommands.stopCommand = "systemctl stop glance-api\\nrm -rf /"`, "one line"],
  },
  {
    name: "command with a carriage return",
    stack: () => twoHaproxy({ nodeCommands: { upgradeCommand: "apt-get install -y glance\rreboot" } }),
    shows: [`${NS}:nodeCommands.upgradeCommand = "apt-get install -y glance\\rreboot"`, "control characters"],
  },
  {
    name: "prestageCommand with a newline (injection)",
    stack: () =>
      twoHaproxy({ nodeCommands: { prestageCommand: "apt-get install -d -y glance-api\nreboot" } }),
    shows: [`${NS}:nodeCommands.prestageCommand = "apt-get install -d -y glance-api\\nreboot"`, "one line"],
  },
  {
    name: "empty prestageCommand",
    stack: () => twoHaproxy({ nodeCommands: { prestageCommand: "" } }),
    shows: [`${NS}:nodeCommands.prestageCommand = ""`, "must not be empty"],
  },
  {
    name: "prestageCommand given as a YAML list",
    stack: () => twoHaproxy({ nodeCommands: { prestageCommand: ["apt-get", "install"] } }),
    shows: [`${NS}:nodeCommands.prestageCommand = ["apt-get","install"]`, "expected string"],
  },
  {
    name: "empty command",
    stack: () => twoHaproxy({ nodeCommands: { startCommand: "" } }),
    shows: [`${NS}:nodeCommands.startCommand = ""`, "must not be empty"],
  },
  {
    name: "node name with ';'",
    stack: () => twoHaproxy(twoNodes({ name: "node-1;reboot" }, {})),
    shows: [`${NS}:nodes[0].name = "node-1;reboot"`, "lower-case letters"],
  },
  {
    name: "node name with '$('",
    stack: () => twoHaproxy(twoNodes({}, { name: "$(reboot)" })),
    shows: [`${NS}:nodes[1].name = "$(reboot)"`, "lower-case letters"],
  },
  {
    name: "node address that would be an ssh option",
    stack: () => twoHaproxy(twoNodes({}, { address: "-oProxyCommand=touch" })),
    shows: [`${NS}:nodes[1].address = "-oProxyCommand=touch"`, "host name or an IP address"],
  },
  {
    name: "health URL with a space",
    stack: () => twoHaproxy(twoNodes({ healthUrl: "http://10.0.0.1:9292/health check" }, {})),
    shows: [`${NS}:nodes[0].healthUrl = "http://10.0.0.1:9292/health check"`, "http(s) URL"],
  },
  {
    name: "health URL with a quote",
    stack: () => twoHaproxy(twoNodes({}, { healthUrl: "http://10.0.0.2:9292/'x" })),
    shows: [`${NS}:nodes[1].healthUrl = "http://10.0.0.2:9292/'x"`, "http(s) URL"],
  },
  {
    name: "default health URL with '$('",
    stack: () => twoHaproxy({ nodeCommands: { healthUrl: "http://{address}:9292/$(id)" } }),
    shows: [`${NS}:nodeCommands.healthUrl = "http://{address}:9292/$(id)"`, "http(s) URL"],
  },
  {
    name: "relative backup path",
    stack: () => twoHaproxy({ backup: { path: "backups/glance.sql" } }),
    shows: [`${NS}:backup.path = "backups/glance.sql"`, "absolute path"],
  },
  {
    name: "backup path with ';'",
    stack: () => twoHaproxy({ backup: { path: "/var/backups/glance.sql;rm -rf /" } }),
    shows: [`${NS}:backup.path = "/var/backups/glance.sql;rm -rf /"`, "absolute path"],
  },
  {
    name: "unknown backup type",
    stack: () => twoHaproxy({ backup: { type: "tar" } }),
    shows: [`${NS}:backup.type = "tar"`, "'mysqldump' | 'rds-snapshot'"],
  },
  {
    name: "bad RDS instance identifier",
    stack: () => albStack(2, { backup: { dbInstanceIdentifier: "1glance_db" } }),
    shows: [`${NS}:backup.dbInstanceIdentifier = "1glance_db"`, "RDS DB instance identifier"],
  },
  ...crossBlockChecks.map(({ name, stack, problem }) => ({ name, stack, shows: [problem] })),
];

describe("parseStackConfig rejects bad configs with one ConfigError naming the key", () => {
  it("has at least 30 distinct bad configs", () => {
    expect(new Set(badConfigs.map((c) => c.name)).size).toBe(badConfigs.length);
    expect(badConfigs.length).toBeGreaterThanOrEqual(30);
  });

  it.each(badConfigs)("$name", ({ stack, shows }) => {
    const { problems, message } = problemsOf(stack());
    const line = problems.find((problem) => shows.every((fragment) => problem.includes(fragment)));
    expect(
      line,
      `no problem line shows all of ${JSON.stringify(shows)} in:\n${problems.join("\n")}`,
    ).toBeDefined();
    expect(message).toMatch(/^Invalid stack config \(\d+ problems?\); nothing was changed:\n/);
    expect(message).toContain(`  - ${line}`);
  });
});

describe("cross-checks between blocks", () => {
  it.each(crossBlockChecks)("$name: exactly that one problem", ({ stack, problem }) => {
    expect(problemsOf(stack()).problems).toEqual([problem]);
  });

  it.each(crossBlockChecks)("$name: the valid neighbour parses", ({ valid }) => {
    expect(() => parsed(valid())).not.toThrow();
  });

  it("leaves RDS identity alone when database.host is not an RDS endpoint (a CNAME, an address, a tunnel)", () => {
    for (const host of ["glance-db.internal.example.net", "10.20.30.40", "127.0.0.1"]) {
      const config = parsed(
        albStack(2, {
          database: { host },
          backup: { dbInstanceIdentifier: "anything", region: "ap-southeast-2" },
        }),
      );
      expect(config.backup).toMatchObject({ dbInstanceIdentifier: "anything", region: "ap-southeast-2" });
    }
  });

  it("compares an Aurora or Multi-AZ cluster endpoint's region, never an instance it does not name", () => {
    const cluster = "glance.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com";
    expect(() =>
      parsed(albStack(2, { database: { host: cluster }, backup: { dbInstanceIdentifier: "glance-writer" } })),
    ).not.toThrow();
    expect(
      problemsOf(albStack(2, { database: { host: cluster }, backup: { region: "eu-central-1" } })).problems,
    ).toEqual([
      `${NS}:backup.region = "eu-central-1": database.host ${cluster} is in eu-west-1, and RDS snapshots an instance only in its own region; use eu-west-1`,
    ]);
  });

  it("lists the cross-block problems together, with every other problem, in ONE error", () => {
    const { problems } = problemsOf(
      albStack(2, {
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-00000000000000001", haproxyServer: "a" },
          { name: "node-2", address: "10.0.1.2" },
        ],
        loadBalancer: { region: "us-east-1" },
        backup: { dbInstanceIdentifier: "glance-old", region: "us-east-1" },
        bake: { errorBudget: 1 },
        rollbackTo: { release: "2024.1", version: "28.2.0" },
      }),
    );
    expect(problems.map((p) => p.slice(0, p.indexOf(" ="))).sort()).toEqual(
      [
        `${NS}:backup.dbInstanceIdentifier`,
        `${NS}:backup.region`,
        `${NS}:bake.errorBudget`,
        `${NS}:loadBalancer.region`,
        `${NS}:nodes[0].haproxyServer`,
        `${NS}:nodes[1].instanceId`,
        `${NS}:rollbackTo.version`,
      ].sort(),
    );
  });
});

describe("several problems at once", () => {
  it("lists every schema problem in ONE error", () => {
    const { problems, message } = problemsOf(
      haproxyStack(2, {
        targetRelease: "bad release",
        exec: "remote",
        database: { port: 0 },
        loadBalancr: {},
        nodes: [
          { name: "node-1", address: "10.0.0.1", transport: "telnet" },
          { name: "node-2", address: "10.0.0.2" },
        ],
      }),
    );
    expect(problems).toHaveLength(5);
    expect(message).toContain("(5 problems)");
    for (const fragment of [
      `${NS}:targetRelease = "bad release"`,
      `${NS}:exec = "remote"`,
      `${NS}:database.port = 0`,
      `${NS}:loadBalancr: unknown key`,
      `${NS}:nodes[0].transport = "telnet"`,
    ]) {
      expect(message).toContain(fragment);
    }
  });

  it("lists every cross-check problem in ONE error", () => {
    const stack = withSecrets(
      haproxyStack(3, {
        newNode: { existing: "node-9" },
        loadBalancer: { maxUnavailable: 3 },
        nodes: [
          { name: "node-1", address: "10.0.0.1" },
          { name: "node-1", address: "10.0.0.1" },
          { name: "node-3", address: "10.0.0.3" },
        ],
      }),
      { dbPassword: absent, dbAdminPassword: secret },
    );
    const { problems } = problemsOf(stack);
    const expected = [
      `${NS}:newNode.existing = "node-9"`,
      `${NS}:loadBalancer.maxUnavailable = 3`,
      "duplicate name node-1",
      "duplicate health URL http://10.0.0.1:9292/healthcheck",
      "duplicate address 10.0.0.1:22",
      "duplicate HAProxy server node-1",
      `${NS}:dbPassword is required`,
      `${NS}:dbAdminPassword is set but database.adminUser is not`,
    ];
    for (const fragment of expected)
      expect(
        problems.some((p) => p.includes(fragment)),
        fragment,
      ).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it("reports a plaintext secret together with schema problems", () => {
    const { problems } = problemsOf(
      withSecrets(haproxyStack(2, { targetRelease: undefined }), { dbPassword: plaintext }),
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain(`${NS}:dbPassword is stored in plaintext`);
    expect(problems[1]).toContain(`${NS}:targetRelease = (not set)`);
  });
});

describe("valid configs", () => {
  it("applies the defaults to a minimal HAProxy stack", () => {
    const config = parsed(haproxyStack(2));
    expect(config.exec).toBe("native");
    expect(config.newNodeName).toBe("node-1");
    expect(config.loadBalancer).toEqual({
      type: "haproxy",
      runtimeApi: "unix:/run/haproxy/admin.sock",
      backend: "glance_api",
      drainTimeoutSeconds: 300,
      importDrainTimeoutSeconds: 1800,
      onImportTimeout: "halt",
      healthTimeoutSeconds: 120,
      maxUnavailable: 1,
      minHealthy: 1,
    });
    expect(config.ssh).toEqual({
      user: "ubuntu",
      port: 22,
      hostKeyPolicy: "strict",
      connectTimeoutSeconds: 10,
    });
    expect(config.database).toEqual({
      host: "db.internal",
      port: 3306,
      user: "glance",
      name: "glance",
      tls: false,
      passConnectionToGlanceManage: false,
    });
    expect(config.nodeCommands).toEqual({
      stopCommand: "systemctl stop glance-api",
      stoppedCheckCommand: "! systemctl is-active --quiet glance-api",
      upgradeCommand:
        'systemctl mask --runtime glance-api && DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"',
      startCommand: "systemctl unmask --runtime glance-api && systemctl start glance-api",
      versionCommand: "dpkg-query -W -f='${Version}' glance-common | sed 's/^[0-9]*://'",
      glanceManageCommand: "glance-manage",
      glanceStatusCommand: "glance-status",
      glancePythonCommand: "python3",
      healthUrl: "http://{address}:9292/healthcheck",
      scriptTimeoutSeconds: 1800,
    });
    expect(config.glanceConfig).toEqual({ files: ["/etc/glance/glance-api.conf"], acknowledge: [] });
    expect(config.nodes).toEqual([
      {
        name: "node-1",
        address: "10.0.0.1",
        transport: "ssh",
        instanceId: undefined,
        haproxyServer: "node-1",
        sshPort: 22,
        healthUrl: "http://10.0.0.1:9292/healthcheck",
        selfReferenceUrl: "http://10.0.0.1:9292",
        provisioned: false,
      },
      {
        name: "node-2",
        address: "10.0.0.2",
        transport: "ssh",
        instanceId: undefined,
        haproxyServer: "node-2",
        sshPort: 22,
        healthUrl: "http://10.0.0.2:9292/healthcheck",
        selfReferenceUrl: "http://10.0.0.2:9292",
        provisioned: false,
      },
    ]);
    expect(config.secrets).toEqual({ dbPassword: true, dbAdminPassword: false, sshPrivateKey: false });
  });

  it("leaves prestageCommand unset by default (no prestage step), and takes the README's apt example as is", () => {
    expect(parsed(haproxyStack(2)).nodeCommands.prestageCommand).toBeUndefined();
    expect("prestageCommand" in parsed(haproxyStack(2)).nodeCommands).toBe(false);
    const config = parsed(haproxyStack(2, { nodeCommands: { prestageCommand: APT_PRESTAGE } }));
    expect(config.nodeCommands.prestageCommand).toBe(APT_PRESTAGE);
    // rollbackTo does not interact with it: the rollback does not pre-stage
    const rollback = haproxyStack(2, {
      nodeCommands: { prestageCommand: APT_PRESTAGE },
      rollbackTo: { release: "2023.2", version: "27.1.1" },
    });
    expect(parsed(rollback).rollbackTo?.version).toBe("27.1.1");
  });

  it("applies partial nodeCommands overrides on top of the defaults", () => {
    const config = parsed(haproxyStack(2, { nodeCommands: { startCommand: "docker start glance-api" } }));
    expect(config.nodeCommands.startCommand).toBe("docker start glance-api");
    expect(config.nodeCommands.stopCommand).toBe("systemctl stop glance-api");
    expect(config.nodeCommands.scriptTimeoutSeconds).toBe(1800);
  });

  it("parses an ALB stack with RDS snapshots and an admin user", () => {
    const config = parsed(albStack(3));
    expect(config.loadBalancer).toMatchObject({
      type: "alb",
      port: 9292,
      region: "eu-west-1",
      maxUnavailable: 1,
    });
    expect(config.backup).toEqual({
      type: "rds-snapshot",
      dbInstanceIdentifier: "glance-db",
      region: "eu-west-1",
      timeoutSeconds: 1800,
    });
    expect(config.nodes.map((n) => n.instanceId)).toEqual([
      "i-00000000000000001",
      "i-00000000000000002",
      "i-00000000000000003",
    ]);
    expect(config.secrets).toEqual({ dbPassword: true, dbAdminPassword: true, sshPrivateKey: true });
  });

  it("parses a provisioned NEW NODE with one existing node", () => {
    const config = parsed(albProvisionedStack(1));
    expect(config.newNodeName).toBe("glance-new");
    expect(config.nodes.map((n) => n.name)).toEqual(["node-1"]);
    expect(config.newNode).toEqual({
      provision: {
        name: "glance-new",
        ami: "ami-0123456789abcdef0",
        instanceType: "m6i.large",
        subnetId: "subnet-0123456789abcdef0",
        securityGroupIds: ["sg-0123456789abcdef0"],
        keyName: "ops-key",
        tags: { team: "images" },
      },
    });
  });

  it("accepts a launch template instead of an AMI", () => {
    const config = parsed(
      albProvisionedStack(2, {
        newNode: { provision: { ami: undefined, launchTemplateId: "lt-0123456789abcdef0" } },
      }),
    );
    expect(config.newNode).toMatchObject({ provision: { launchTemplateId: "lt-0123456789abcdef0" } });
  });

  it("resolves {address} in node and default health URLs", () => {
    const config = parsed(
      haproxyStack(3, {
        nodeCommands: { healthUrl: "https://{address}:8443/healthcheck" },
        nodes: [
          { name: "node-1", address: "10.0.0.1" },
          { name: "node-2", address: "glance-2.internal", healthUrl: "http://{address}:19292/{address}" },
          { name: "node-3", address: "10.0.0.3", healthUrl: "http://127.0.0.1:18003/healthcheck" },
        ],
      }),
    );
    expect(config.nodes.map((n) => n.healthUrl)).toEqual([
      "https://10.0.0.1:8443/healthcheck",
      "http://glance-2.internal:19292/glance-2.internal",
      "http://127.0.0.1:18003/healthcheck",
    ]);
  });

  it("takes the SSH port from the node, else from ssh.port, and the HAProxy server name from the node", () => {
    const config = parsed(
      haproxyStack(2, {
        ssh: { port: 2200 },
        nodes: [
          { name: "node-1", address: "10.0.0.1", sshPort: 2222, haproxyServer: "glance-a" },
          { name: "node-2", address: "10.0.0.1", healthUrl: "http://10.0.0.1:9293/healthcheck" },
        ],
      }),
    );
    expect(config.nodes.map((n) => [n.sshPort, n.haproxyServer])).toEqual([
      [2222, "glance-a"],
      [2200, "node-2"],
    ]);
  });

  it("accepts the boundaries: maxUnavailable = fleet - 1 and minHealthy = fleet - maxUnavailable", () => {
    const config = parsed(haproxyStack(5, { loadBalancer: { maxUnavailable: 4, minHealthy: 1 } }));
    expect(config.loadBalancer.maxUnavailable).toBe(4);
    const config2 = parsed(haproxyStack(5, { loadBalancer: { maxUnavailable: 2, minHealthy: 3 } }));
    expect(config2.loadBalancer.minHealthy).toBe(3);
  });

  it("accepts local nodes on one host with distinct health URLs, and ALB IP targets without instance ids", () => {
    const local = parsed(
      haproxyStack(2, {
        ssh: undefined,
        exec: "native",
        nodes: [
          {
            name: "node-1",
            address: "127.0.0.1",
            transport: "local",
            healthUrl: "http://127.0.0.1:18001/healthcheck",
          },
          {
            name: "node-2",
            address: "127.0.0.1",
            transport: "local",
            healthUrl: "http://127.0.0.1:18002/healthcheck",
          },
        ],
      }),
    );
    expect(local.exec).toBe("native");
    expect(local.ssh).toBeUndefined();
    const ipTargets = parsed(
      albStack(2, {
        nodes: [
          { name: "node-1", address: "10.0.1.1" },
          { name: "node-2", address: "10.0.1.2" },
        ],
      }),
    );
    expect(ipTargets.nodes.map((n) => n.instanceId)).toEqual([undefined, undefined]);
  });

  it("tells 28.1.1 and 28.1.10 apart: rollbackTo.version that only string-prefixes targetVersion is fine", () => {
    const config = parsed(
      twoHaproxy({ targetVersion: "28.1.10", rollbackTo: { release: "2024.1", version: "28.1.1" } }),
    );
    expect(config.rollbackTo?.version).toBe("28.1.1");
  });

  it("accepts one-line operator commands with shell syntax", () => {
    const config = parsed(
      haproxyStack(2, {
        nodeCommands: { versionCommand: "docker exec glance glance-manage --version | cut -d' ' -f1" },
      }),
    );
    expect(config.nodeCommands.versionCommand).toBe(
      "docker exec glance glance-manage --version | cut -d' ' -f1",
    );
  });

  // BUG (reported): the native executor also reaches a provisioned NEW NODE over SSH
  // (components/exec/native.ts throws "uses ssh but the stack has no ssh settings" at program time),
  // but parse.ts only requires `ssh` for exec "command". Flip to `it` once parse.ts checks both.
  it("rejects a provisioned NEW NODE without ssh settings for the native executor too", () => {
    const { problems } = problemsOf(
      albProvisionedStack(1, {
        exec: "native",
        ssh: undefined,
        nodes: [
          { name: "node-1", address: "10.0.1.1", instanceId: "i-0123456789abcdef0", transport: "local" },
        ],
      }),
    );
    expect(problems.some((p) => p.includes(`${NS}:ssh`))).toBe(true);
  });
});

describe("parseConfigEntries", () => {
  it("keeps targetRelease and targetVersion strings that look like numbers", () => {
    const stack = haproxyStack(2, { targetRelease: "2024.10", targetVersion: "28.10.0" });
    const config = parseConfigEntries(toEntries(stack.raw, stack.secretValues));
    expect(config.targetRelease).toBe("2024.10");
    expect(typeof config.targetRelease).toBe("string");
    expect(config.targetVersion).toBe("28.10.0");
  });

  it("keeps targetRelease 2024.1 a string, not the number 2024.1", () => {
    const stack = haproxyStack(2);
    const entries = toEntries(stack.raw, stack.secretValues);
    expect(entries.find((e) => e.key === `${NS}:targetRelease`)?.value).toBe("2024.1");
    expect(parseConfigEntries(entries).targetRelease).toBe("2024.1");
  });

  it("parses objects and lists from JSON text and keeps their numbers numbers", () => {
    const stack = albStack(3, { database: { port: 3307 }, loadBalancer: { maxUnavailable: 2 } });
    const config = parseConfigEntries(toEntries(stack.raw, stack.secretValues));
    expect(config).toEqual(parsed(stack));
    expect(config.database.port).toBe(3307);
    expect(config.loadBalancer.maxUnavailable).toBe(2);
    expect(config.nodes).toHaveLength(3);
  });

  it("ignores keys of other namespaces", () => {
    const stack = haproxyStack(2);
    const entries = [
      ...toEntries(stack.raw, stack.secretValues),
      { key: "aws:region", value: "eu-west-1", secret: false },
      { key: "other:targetRelease", value: "bad release", secret: false },
    ];
    expect(parseConfigEntries(entries).targetRelease).toBe("2024.1");
  });

  it("records secret presence without the values", () => {
    const stack = albStack(2);
    const config = parseConfigEntries(toEntries(stack.raw, stack.secretValues));
    expect(config.secrets).toEqual({ dbPassword: true, dbAdminPassword: true, sshPrivateKey: true });
    const text = JSON.stringify(config);
    for (const value of [DB_PASSWORD, DB_ADMIN_PASSWORD, SSH_PRIVATE_KEY]) expect(text).not.toContain(value);
  });

  it("rejects a plaintext secret without printing its value", () => {
    const stack = haproxyStack(2);
    let error: unknown;
    try {
      parseConfigEntries(toEntries(stack.raw, stack.secretValues, ["dbPassword"]));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `${NS}:dbPassword is stored in plaintext: run \`pulumi config set --secret dbPassword <value>\` (and rotate it)`,
    ]);
    expect((error as ConfigError).message).not.toContain(DB_PASSWORD);
  });

  it("reports text that is not JSON where an object is expected, with the key", () => {
    const stack = haproxyStack(2);
    const entries = toEntries(stack.raw, stack.secretValues).map((e) =>
      e.key === `${NS}:database` ? { ...e, value: "{host: db.internal" } : e,
    );
    expect(() => parseConfigEntries(entries)).toThrow(`${NS}:database = "{host: db.internal": Invalid input`);
  });

  it("matches the default nodeCommands schema output", () => {
    expect(parsed(haproxyStack(2)).nodeCommands).toEqual(nodeCommandsSchema.parse({}));
  });
});
