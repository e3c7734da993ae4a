import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { dbRef } from "./membership";
import { backupTarget } from "../plan/plan";
import { dbStep } from "../plan/stepIds";
import { typedStep } from "./typedStep";
import { StepResource } from "../resources/step";

/** Step 1 of the procedure: a backup of the Glance database, before any node or schema changes. */
export class DatabaseBackup extends pulumi.ComponentResource {
  readonly step: StepResource;
  readonly location: string;

  constructor(
    name: string,
    args: { context: UpgradeContext; after: pulumi.Resource[] },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("glance:db:DatabaseBackup", name, {}, opts);
    const { config } = args.context;
    const backup = config.backup;
    this.location = backupTarget(config);
    this.step = typedStep(
      args.context,
      dbStep("backup"),
      backup.type === "mysqldump"
        ? {
            kind: "backup",
            secrets: ["dbPassword"],
            request: {
              kind: "backup-mysqldump",
              db: dbRef(config),
              path: this.location,
              // Left out unless set, so existing stacks' backup inputs do not change.
              ...(backup.timeoutSeconds !== undefined ? { timeoutSeconds: backup.timeoutSeconds } : {}),
            },
          }
        : {
            kind: "backup",
            request: {
              kind: "backup-rds",
              dbInstanceIdentifier: backup.dbInstanceIdentifier,
              snapshotIdentifier: `${backup.dbInstanceIdentifier}-before-${config.targetRelease.replaceAll(/[^A-Za-z0-9]/g, "-")}`,
              timeoutSeconds: backup.timeoutSeconds,
              ...(backup.region ? { region: backup.region } : {}),
              ...(backup.endpoint ? { endpoint: backup.endpoint } : {}),
            },
          },
      { parent: this, dependsOn: args.after },
    );
    this.registerOutputs({ location: this.location, result: this.step.result });
  }
}
