import { z } from "zod";
import { absolutePath, hostOrIp, port, positiveSeconds, url } from "./fields";

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
  z.strictObject({
    type: z.literal("mysqldump"),
    path: absolutePath,
    /** Absent: the step's default (30 min); set only when a dump needs longer, or should fail sooner. */
    timeoutSeconds: positiveSeconds(86400).optional(),
  }),
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
    /**
     * The creation time (ISO 8601, as the refusal prints it) of an existing snapshot taken before
     * this upgrade began that the operator accepts as its backup; any other snapshot is still refused.
     */
    acceptSnapshotCreatedAt: z.iso
      .datetime({
        offset: true,
        message: 'use the time the refusal printed, e.g. "2026-01-31T09:15:02.000Z"',
      })
      .optional(),
  }),
]);
