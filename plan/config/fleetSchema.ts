import { z } from "zod";
import type { LbKindPlan } from "../lb/kind";
import {
  absolutePath,
  command,
  eachOnce,
  hostOrIp,
  port,
  positiveSeconds,
  posixUser,
  safeName,
  url,
} from "./fields";

/** The stack config blocks about the nodes: the fleet, the NEW NODE, how to reach them and run them. */

/** A node's keys that every load-balancer kind shares; each kind adds its own (plan/lb/kind.ts). */
const nodeFields = {
  name: safeName,
  address: hostOrIp,
  transport: z.enum(["ssh", "local"]).default("ssh"),
};

const nodeReachFields = {
  sshPort: port.optional(),
  healthUrl: url.optional(),
  /** The node's `worker_self_reference_url` in Glance; defaults to the health URL's origin. */
  selfReferenceUrl: url.optional(),
};

/** A node as parsed: the shared keys, and the keys of the load-balancer kinds (plan/lb/kind.ts). */
export type ParsedNode = z.output<z.ZodObject<typeof nodeFields & typeof nodeReachFields>> & {
  readonly [kindKey: string]: unknown;
};

/** The node schema with these kinds' node keys (between its transport and its ssh port, as ever). */
export function nodeSchemaOf(kinds: readonly LbKindPlan[]): z.ZodType<ParsedNode> {
  const kindFields = Object.fromEntries(
    kinds.flatMap((kind) => Object.entries(kind.nodeFields).map(([name, field]) => [name, field.schema])),
  );
  return z.strictObject({
    ...nodeFields,
    ...kindFields,
    ...nodeReachFields,
  }) as unknown as z.ZodType<ParsedNode>;
}

const provisionSchema = z.strictObject({
  name: safeName,
  ami: z
    .string()
    .regex(/^ami-[0-9a-f]{8,17}$/, "use an AMI id such as ami-0123456789abcdef0")
    .optional(),
  launchTemplateId: z
    .string()
    .regex(/^lt-[0-9a-f]{8,17}$/, "use a launch template id such as lt-0abc...")
    .optional(),
  instanceType: z
    .string()
    .regex(/^[a-z0-9]+\.[a-z0-9]+$/, "use an instance type such as m6i.large")
    .default("m6i.large"),
  subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "use a subnet id such as subnet-0abc..."),
  securityGroupIds: z
    .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, "use security group ids such as sg-0abc..."))
    .min(1),
  keyName: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9._-]+$/, "use the EC2 key pair's name"),
  tags: z.record(z.string(), z.string()).optional(),
});

export const newNodeSchema = z.union([
  z.strictObject({ existing: safeName }),
  z.strictObject({ provision: provisionSchema }),
]);

export const sshSchema = z.strictObject({
  user: posixUser,
  port: port.default(22),
  hostKeyPolicy: z.enum(["strict", "accept-new", "insecure"]).default("strict"),
  knownHostsFile: absolutePath.optional(),
  connectTimeoutSeconds: positiveSeconds(300).default(10),
});

/** A command a block needs: when it is missing, the error says what it does and gives an example. */
const requiredCommand = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? what : undefined) }).pipe(command);

/**
 * The new release is served by another service than the old one (Glance 2026.1 wants a WSGI server:
 * eventlet's `glance-api` out, uWSGI serving `glance.wsgi.api` in). The upgrade's stop uses its stop
 * and check, which act on whichever server runs (a rerun may find the node half moved, or already
 * moved); its start starts the new service, health-gated like any start. The rollback stops with its
 * stop and check too, and starts with startCommand: the release it returns to is served the old way.
 */
export const serverMoveSchema = z.strictObject({
  stopCommand: requiredCommand(
    "stops Glance whichever server runs it, e.g. systemctl stop glance-api glance-api-uwsgi",
  ),
  stoppedCheckCommand: requiredCommand(
    "succeeds once neither server runs, e.g. ! systemctl is-active --quiet glance-api && ! systemctl is-active --quiet glance-api-uwsgi",
  ),
  startCommand: requiredCommand(
    "starts the new release under the new server, e.g. systemctl unmask --runtime glance-api && systemctl disable glance-api && systemctl enable --now glance-api-uwsgi",
  ),
});

/** How a node is stopped, upgraded, started and asked for its release. Defaults: systemd + distro packages. */
/** An option of a glance-api config as the config check names it: `group/option`, or `group/*`. */
const glanceOption = z
  .string()
  .regex(
    /^[A-Za-z0-9_.-]+\/([A-Za-z0-9_-]+|\*)$/,
    "name an option as the config check reports it, group/option (DEFAULT/location_strategy), or group/* for a whole section",
  );

/** The NEW NODE's Glance config, as the config check reads it before any schema change. */
export const glanceConfigSchema = z.strictObject({
  /** The glance-api config files the node's Glance starts with; {node} and {release} are filled in. */
  files: z.array(absolutePath).min(1, "list at least one file").default(["/etc/glance/glance-api.conf"]),
  /**
   * Options the check reports as not read by the new release that the operator knows are read
   * anyway (by a plugin of the site's own, say): each is named and not counted as a failure.
   */
  acknowledge: z.array(glanceOption).superRefine(eachOnce("glanceConfig.acknowledge", "option")).default([]),
});

export const nodeCommandsSchema = z.strictObject({
  stopCommand: command.default("systemctl stop glance-api"),
  stoppedCheckCommand: command.default("! systemctl is-active --quiet glance-api"),
  // Masked for the runtime while packages change, so their maintainer scripts cannot restart the
  // service on new code before the schema steps (I2); start unmasks it. The version is pinned to the
  // one the step is given (apt matches a trailing '*' as a prefix; Debian and the Ubuntu Cloud Archive
  // carry Glance with epoch 2), downgrades allowed, so the same command serves `rollback`.
  upgradeCommand: command.default(
    'systemctl mask --runtime glance-api && DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"',
  ),
  /**
   * Optional, off by default: run on each node before its drain, while it still serves, so its time
   * out of rotation is only stop, switch, start and health. It must not touch the running service:
   * fetch what upgradeCommand will install, install nothing (e.g. apt-get install --download-only).
   */
  prestageCommand: command.optional(),
  startCommand: command.default("systemctl unmask --runtime glance-api && systemctl start glance-api"),
  versionCommand: command.default("dpkg-query -W -f='${Version}' glance-common | sed 's/^[0-9]*://'"),
  glanceManageCommand: command.default("glance-manage"),
  /** Upstream's readiness check, run as `<this> upgrade check` with the new code on the NEW NODE. */
  glanceStatusCommand: command.default("glance-status"),
  /**
   * The Python that runs the node's Glance (a virtualenv's bin/python; `docker exec -i glance_api
   * python3` in a container): the config check runs `<this> - <files>` on the NEW NODE, its program on stdin.
   */
  glancePythonCommand: command.default("python3"),
  healthUrl: url.default("http://{address}:9292/healthcheck"),
  /** Optional: move each node to another server with this upgrade (serverMoveSchema). */
  serverMove: serverMoveSchema.optional(),
  /**
   * ALB only: prints one line per connection on the node's traffic port that may carry work (a drain ends
   * early when it prints none, steps/lb/alb/drainEnd.ts). Absent: `ss` on the health URL's port.
   */
  connectionsCommand: command.optional(),
  scriptTimeoutSeconds: positiveSeconds(7200).default(1800),
});
