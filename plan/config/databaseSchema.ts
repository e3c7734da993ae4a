import { z } from "zod";
import { absolutePath, hostOrIp, port, positiveSeconds, url } from "./fields";

/** A Galera member as `host` or `host:port` (IPv6 in brackets, `[fd00::1]:3306`); no port: 3306. */
const galeraMember = z
  .string()
  .regex(
    /^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\])(:\d{1,5})?$/,
    'use a member\'s own address as "host" or "host:port", e.g. "10.0.0.11:3306"',
  )
  .refine((member) => {
    const { port } = galeraMemberAddress(member);
    return port >= 1 && port <= 65535;
  }, "the port must be 1-65535");

/** `host` or `host:port` -> its host and port (3306 when absent). */
export function galeraMemberAddress(member: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(member);
  const host = (match?.[1] ?? member).replace(/^\[(.*)\]$/, "$1");
  return { host, port: match?.[2] === undefined ? 3306 : Number(match[2]) };
}

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
  /**
   * A MariaDB Galera cluster behind `host` (a VIP, HAProxy, ProxySQL): every member's own address.
   * The preflight connects to each one directly and refuses a degraded cluster: a member unreachable,
   * not ready (wsrep_ready), outside the Primary component, not Synced, or a cluster size other than
   * the number of members named here.
   */
  galeraMembers: z
    .array(galeraMember)
    .min(1)
    .refine((members) => {
      const keys = members.map((m) => {
        const { host, port } = galeraMemberAddress(m);
        return `${host.toLowerCase()}:${port}`;
      });
      return new Set(keys).size === keys.length;
    }, "name each member once")
    .optional(),
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
