import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { dbRef } from "./membership";
import { backupTarget } from "../plan/plan";
import { dbStep } from "../plan/stepIds";
import { typedStep } from "./typedStep";
import { galeraMemberAddress } from "../plan/config/databaseSchema";
import { StepResource } from "../resources/step";
import type { StepRequest } from "../steps/protocol";

type RdsBackupRequest = Extract<StepRequest, { kind: "backup-rds" }>;

/**
 * The request with upgradeStartedAt left an Output inside it: the engine resolves nested inputs one
 * by one, so while a re-running preflight's start is unknown only that field is, and ignoreChanges
 * can put the recorded value in its place (a preview then shows no change the run would not make).
 */
function rdsRequest(
  request: Omit<RdsBackupRequest, "upgradeStartedAt"> & { upgradeStartedAt?: pulumi.Input<string> },
): pulumi.Input<StepRequest> {
  return request as pulumi.Input<RdsBackupRequest>;
}

/** Step 1 of the procedure: a backup of the Glance database, before any node or schema changes. */
export class DatabaseBackup extends pulumi.ComponentResource {
  readonly step: StepResource;
  readonly location: string;

  constructor(
    name: string,
    args: {
      context: UpgradeContext;
      after: pulumi.Resource[];
      /** When this upgrade's preflight started: an RDS snapshot taken earlier is not this upgrade's. */
      upgradeStartedAt?: pulumi.Output<string>;
    },
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
              // Only when configured: a request without members is the one earlier states recorded.
              ...(config.database.galeraMembers
                ? { galeraMembers: config.database.galeraMembers.map(galeraMemberAddress) }
                : {}),
              path: this.location,
              // Left out unless set, so existing stacks' backup inputs do not change.
              ...(backup.timeoutSeconds !== undefined ? { timeoutSeconds: backup.timeoutSeconds } : {}),
            },
          }
        : {
            kind: "backup",
            request: rdsRequest({
              kind: "backup-rds",
              dbInstanceIdentifier: backup.dbInstanceIdentifier,
              snapshotIdentifier: `${backup.dbInstanceIdentifier}-before-${config.targetRelease.replaceAll(/[^A-Za-z0-9]/g, "-")}`,
              timeoutSeconds: backup.timeoutSeconds,
              ...(backup.region ? { region: backup.region } : {}),
              ...(backup.endpoint ? { endpoint: backup.endpoint } : {}),
              ...(args.upgradeStartedAt ? { upgradeStartedAt: args.upgradeStartedAt } : {}),
              ...(backup.acceptSnapshotCreatedAt
                ? { acceptSnapshotCreatedAt: backup.acceptSnapshotCreatedAt }
                : {}),
            }),
          },
      {
        parent: this,
        dependsOn: args.after,
        // The start this backup first ran for stays its reference: a later preflight (a config edit
        // re-runs it) neither re-runs the backup nor makes its own snapshot look like another's.
        ignoreChanges: backup.type === "rds-snapshot" ? ["request.upgradeStartedAt"] : [],
      },
    );
    this.registerOutputs({ location: this.location, result: this.step.result });
  }
}
