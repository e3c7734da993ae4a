import { z } from "zod";

/**
 * The stack config schema. Every value that can reach a shell script is either constrained here to a
 * shell-safe alphabet or quoted by the script builder; free-form commands are operator-authored and
 * rejected when they contain control characters.
 */

const safeName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    "use lower-case letters, digits and '-' (e.g. node-1), at most 63 characters",
  );
const release = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "use letters, digits, '.', '_' or '-' (e.g. 2024.1)");
const hostOrIp = z
  .string()
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:]+\]?$/,
    "use a host name or an IP address",
  );
const port = z.number().int().min(1).max(65535);
const positiveSeconds = (max: number) => z.number().int().min(1).max(max);
const command = z
  .string()
  .min(1, "must not be empty")
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u0008\u000a-\u001f\u007f]*$/, "must be one line without control characters");
const absolutePath = z
  .string()
  .regex(
    /^\/[A-Za-z0-9._/{}-]*$/,
    "use an absolute path of letters, digits, '.', '_', '-', '/' and {release}",
  );
const url = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9.:[\]{}/_-]+$/, "use an http(s) URL, e.g. http://{address}:9292/healthcheck");

export const nodeSchema = z.strictObject({
  name: safeName,
  address: hostOrIp,
  transport: z.enum(["ssh", "local"]).default("ssh"),
  instanceId: z
    .string()
    .regex(/^i-[0-9a-f]{8,17}$/, "use an EC2 instance id such as i-0123456789abcdef0")
    .optional(),
  /** The server's name in the HAProxy backend; defaults to the node name. */
  haproxyServer: safeName.optional(),
  sshPort: port.optional(),
  healthUrl: url.optional(),
});

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

const posixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "use a POSIX user name such as ubuntu");

export const sshSchema = z.strictObject({
  user: posixUser,
  port: port.default(22),
  hostKeyPolicy: z.enum(["strict", "accept-new", "insecure"]).default("strict"),
  knownHostsFile: absolutePath.optional(),
  connectTimeoutSeconds: positiveSeconds(300).default(10),
});

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

const rolloutFields = {
  drainTimeoutSeconds: positiveSeconds(3600).default(300),
  healthTimeoutSeconds: positiveSeconds(3600).default(120),
  maxUnavailable: z.number().int().min(1).default(1),
  minHealthy: z.number().int().min(0).default(1),
};

export const loadBalancerSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("alb"),
    targetGroupArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]+\/[0-9a-f]+$/,
        "use a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)",
      ),
    port: port.default(9292),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "use an AWS region such as eu-west-1")
      .optional(),
    endpoint: url.optional(),
    ...rolloutFields,
  }),
  z.strictObject({
    type: z.literal("haproxy"),
    /** One instance's runtime API, or every instance's (an active/standby pair or more). */
    runtimeApi: z.union([
      runtimeAddress,
      z.array(runtimeApiEntry).min(1, "list at least one runtime API (one per HAProxy instance)"),
    ]),
    backend: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "use the HAProxy backend's name (letters, digits, '_', '.', '-')"),
    ...rolloutFields,
  }),
]);

export const databaseSchema = z.strictObject({
  host: hostOrIp,
  port: port.default(3306),
  user: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, "use the Glance database user's name"),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, "use the schema's name, e.g. glance")
    .default("glance"),
  tls: z.boolean().default(false),
  /**
   * With tls: the CA bundle (PEM) the server's certificate is verified against, at this path on the
   * machine running the upgrade and, for glance-manage's connection, on the NEW NODE.
   */
  caFile: absolutePath.optional(),
  adminUser: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,80}$/, "use the admin user's name")
    .optional(),
  /**
   * Give glance-manage the database connection as the secret environment variable
   * OS_DATABASE__CONNECTION (oslo.config reads it over the node's config file), for nodes whose own
   * config lacks a connection allowed to change the schema.
   */
  passConnectionToGlanceManage: z.boolean().default(false),
  /** On RDS, log_bin_trust_function_creators is a DB parameter group setting; the preflight names it. */
  rdsParameterGroup: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,255}$/)
    .optional(),
});

export const backupSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("mysqldump"), path: absolutePath }),
  z.strictObject({
    type: z.literal("rds-snapshot"),
    dbInstanceIdentifier: z
      .string()
      .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, "use the RDS DB instance identifier"),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "use an AWS region such as eu-west-1")
      .optional(),
    endpoint: url.optional(),
    timeoutSeconds: positiveSeconds(7200).default(1800),
  }),
]);

/** How a node is stopped, upgraded, started and asked for its release. Defaults: systemd + distro packages. */
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
  startCommand: command.default("systemctl unmask --runtime glance-api && systemctl start glance-api"),
  versionCommand: command.default("dpkg-query -W -f='${Version}' glance-common | sed 's/^[0-9]*://'"),
  glanceManageCommand: command.default("glance-manage"),
  healthUrl: url.default("http://{address}:9292/healthcheck"),
  scriptTimeoutSeconds: positiveSeconds(7200).default(1800),
});

/** CloudWatch's own rule for alarm names; one DescribeAlarms call reads up to 100 of them. */
const alarmNames = z
  .array(
    z
      .string()
      .min(1, "must not be empty")
      .max(255, "use at most 255 characters (CloudWatch's limit)")
      // eslint-disable-next-line no-control-regex
      .regex(/^[^\u0000-\u001f\u007f]*$/, "use the CloudWatch alarm's name: no control characters"),
  )
  .max(100, "list at most 100 alarms (one DescribeAlarms call)")
  .superRefine((names, ctx) => {
    names.forEach((name, index) => {
      const first = names.indexOf(name);
      if (first !== index) {
        ctx.addIssue({
          code: "custom",
          path: [index],
          message: `duplicate of bake.alarmNames[${first}]; list each alarm once`,
        });
      }
    });
  });

export const stackSchema = z.strictObject({
  targetRelease: release,
  /** What `versionCommand` prints on a node running the target release (prefix match), e.g. 28.2.0. */
  targetVersion: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,63}$/, "use the package version, e.g. 28.2.0"),
  /** native: the project's own runner over OpenSSH (or locally); command: @pulumi/command (its plugin). */
  exec: z.enum(["native", "command"]).default("native"),
  nodes: z.array(nodeSchema).min(1, "list at least one node"),
  newNode: newNodeSchema,
  ssh: sshSchema.optional(),
  loadBalancer: loadBalancerSchema,
  database: databaseSchema,
  backup: backupSchema,
  nodeCommands: nodeCommandsSchema.default(nodeCommandsSchema.parse({})),
  /**
   * Bake: after each admission, watch the admitted node for windowSeconds before the next wave drains
   * (HAProxy: its 5xx responses and connection/response errors must stay within errorBudget; ALB: the
   * target must stay healthy). Any CloudWatch alarm in alarmNames must stay out of ALARM too, with
   * either load balancer. Off with 0; over budget, the node is drained back out and the chain halts.
   */
  bake: z
    .strictObject({
      windowSeconds: z.number().int().min(0).max(3600).default(0),
      errorBudget: z.number().int().min(0).default(0),
      alarmNames: alarmNames.default([]),
    })
    .refine((bake) => bake.alarmNames.length === 0 || bake.windowSeconds > 0, {
      path: ["windowSeconds"],
      message:
        "alarmNames is set but the bake is off (windowSeconds 0), so no alarm would be watched: set windowSeconds (e.g. 60) or remove alarmNames",
    })
    .default({ windowSeconds: 0, errorBudget: 0, alarmNames: [] }),
  /**
   * A checkpoint: stop after the NEW NODE ("newNode") or after wave N, with the fleet serving, until
   * the operator approves by setting approvedRelease to the target release. After the last wave, it
   * holds db contract (which rollback cannot undo) with every node on the new release.
   */
  pauseAfter: z.union([z.literal("newNode"), z.number().int().min(1)]).optional(),
  /** The release the operator approved past the checkpoint (`driver approve` sets it). */
  approvedRelease: release.optional(),
  /** The release nodes return to with the driver's `rollback` (allowed until db contract has run). */
  rollbackTo: z
    .strictObject({
      release,
      version: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,63}$/, "use the package version, e.g. 27.1.1"),
    })
    .optional(),
});

export type StackInput = z.input<typeof stackSchema>;
export type ParsedStack = z.output<typeof stackSchema>;
