import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { buildNodeScript, NodeEndpoint } from "./exec";
import { dbRef } from "./membership";
import { dbStep } from "../plan/stepIds";
import { typedStep } from "./typedStep";
import { StepResource } from "../resources/step";
import type { StoredResult } from "../steps/protocol";
import { readAs } from "../steps/results";
import { OLD_PREFLIGHT_NOTE, recordedTrustBefore, trustRestore } from "../steps/db/trustRecord";
import { galeraMemberAddress } from "../plan/config/databaseSchema";
import type { UpgradeConfig } from "../plan/config";

/** database.galeraMembers as the requests carry them; {} without (the request earlier states recorded). */
export function galeraMembersOf(config: UpgradeConfig): {
  galeraMembers?: Array<{ host: string; port: number }>;
} {
  const members = config.database.galeraMembers;
  return members ? { galeraMembers: members.map(galeraMemberAddress) } : {};
}

/** The preflight's per-member record (steps/preflight.ts), or undefined. */
function previousByMember(preflight: StoredResult | undefined): Record<string, boolean> | undefined {
  const recorded = preflight?.trustBeforeByMember;
  if (typeof recorded !== "object" || recorded === null) return undefined;
  return Object.fromEntries(
    Object.entries(recorded).filter((entry): entry is [string, boolean] => typeof entry[1] === "boolean"),
  );
}

/**
 * The schema steps, run from the NEW NODE with its new code: allow stored functions if binary logging
 * needs it, expand, migrate, verify; and at the very end contract and restore the MySQL setting.
 */
export class DbMigration extends pulumi.ComponentResource {
  private allow?: StepResource;

  constructor(
    name: string,
    private readonly args: {
      context: UpgradeContext;
      newNode: NodeEndpoint;
      /** The preflight's result: log_bin_trust_function_creators before this chain changed it (I7). */
      preflight: pulumi.Output<StoredResult>;
    },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("glance:db:DbMigration", name, {}, opts);
    this.registerOutputs({ newNode: args.newNode.name });
  }

  allowFunctions(after: pulumi.Resource[]): pulumi.Resource {
    const { config } = this.args.context;
    this.allow = typedStep(
      this.args.context,
      dbStep("allow-functions"),
      {
        kind: "allow-functions",
        secrets: ["dbPassword", "dbAdminPassword"],
        request: {
          kind: "allow-functions",
          db: dbRef(config),
          adminUser: config.database.adminUser,
          rdsParameterGroup: config.database.rdsParameterGroup,
          ...galeraMembersOf(config),
        },
      },
      { parent: this, dependsOn: after },
    );
    return this.allow;
  }

  /** expand, migrate, verify and contract: glance-manage on the NEW NODE. */
  manage(kind: "expand" | "migrate" | "verify" | "contract", after: pulumi.Resource[]): pulumi.Resource {
    const { config, executor } = this.args.context;
    const name = dbStep(kind);
    const node = this.args.newNode;
    const script = buildNodeScript(kind, config, node);
    const db = config.database;
    const secrets = db.passConnectionToGlanceManage
      ? this.args.context.secrets.dbPassword.apply((password) => ({
          OS_DATABASE__CONNECTION: glanceManageConnection(db, password),
        }))
      : undefined;
    return executor.run({ name, kind, node, script, secrets, parent: this, dependsOn: after }).resource;
  }

  restoreSetting(after: pulumi.Resource[]): pulumi.Resource {
    const { config } = this.args.context;
    if (!this.allow) throw new Error(`${dbStep("restore-setting")} needs ${dbStep("allow-functions")} first`);
    const allowed = this.allow.result;
    const adminConfigured = config.database.adminUser !== undefined;
    return typedStep(
      this.args.context,
      dbStep("restore-setting"),
      {
        kind: "restore-setting",
        secrets: ["dbAdminPassword"],
        request: pulumi.all([allowed, this.args.preflight]).apply(([r, preflight]) => {
          const restore = trustRestore({
            before: recordedTrustBefore(preflight),
            allow: {
              previous: readAs("allow-functions", r).previous ?? false,
              changed: readAs("allow-functions", r).changed ?? false,
            },
            adminConfigured,
          });
          if (restore.from === "allow-functions") void pulumi.log.warn(OLD_PREFLIGHT_NOTE, this);
          const byMember = config.database.galeraMembers ? previousByMember(preflight) : undefined;
          return {
            kind: "restore-setting" as const,
            db: dbRef(config),
            adminUser: config.database.adminUser,
            previous: restore.previous,
            changed: restore.changed,
            ...galeraMembersOf(config),
            ...(byMember ? { previousByMember: byMember } : {}),
          };
        }),
      },
      { parent: this, dependsOn: after },
    );
  }
}

/**
 * The connection URL glance-manage gets (oslo.db, SQLAlchemy's PyMySQL dialect). With TLS and a CA
 * file (the same path on the node) PyMySQL verifies the server against it, name included
 * (`ssl_ca`, `ssl_check_hostname`); without one it verifies against the node's system CAs
 * (`ssl_verify_cert`), and PyMySQL then skips the name check: set database.caFile for both.
 */
export function glanceManageConnection(
  db: { user: string; host: string; port: number; name: string; tls: boolean; caFile?: string },
  password: string,
): string {
  const url = `mysql+pymysql://${encodeURIComponent(db.user)}:${encodeURIComponent(password)}@${db.host}:${db.port}/${db.name}`;
  if (!db.tls) return url;
  const params = new URLSearchParams(
    db.caFile
      ? { ssl_ca: db.caFile, ssl_check_hostname: "true" }
      : { ssl_verify_cert: "true", ssl_verify_identity: "true" },
  );
  return `${url}?${params.toString()}`;
}
