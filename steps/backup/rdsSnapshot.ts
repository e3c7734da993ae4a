/**
 * The database backup on RDS: a manual DB snapshot, waited for until `available`. The snapshot id
 * carries the target release (the caller's choice), so a rerun finds and reuses its own snapshot;
 * one taken before this upgrade began (an earlier attempt at the release, rolled back since) is
 * refused unless acknowledged: a restore from it would lose every image registered after it.
 */
import {
  CreateDBSnapshotCommand,
  DBSnapshot,
  DescribeDBSnapshotsCommand,
  RDSClient,
  waitUntilDBSnapshotAvailable,
} from "@aws-sdk/client-rds";
import { StepContext, StepError } from "../context";
import { AwsTarget, awsErrorName, describeAwsError, rdsClient } from "../aws/clients";

/** RDS snapshots take minutes: start polling fast (an emulator or a tiny DB), settle at 5 s per call. */
const MIN_POLL_SECONDS = 0.25;
const MAX_POLL_SECONDS = 5;

async function findSnapshot(client: RDSClient, snapshotIdentifier: string): Promise<DBSnapshot | undefined> {
  try {
    const out = await client.send(
      new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotIdentifier }),
    );
    return out.DBSnapshots?.[0];
  } catch (error) {
    if (awsErrorName(error) === "DBSnapshotNotFoundFault") return undefined;
    throw error;
  }
}

function failure(what: string, error: unknown, args: { dbInstanceIdentifier: string }): StepError {
  if (error instanceof StepError) return error;
  const name = awsErrorName(error);
  if (name === "DBInstanceNotFoundFault") {
    return new StepError(
      `${what}: DB instance "${args.dbInstanceIdentifier}" does not exist in this account/region. ` +
        `Check dbInstanceIdentifier and the region (an Aurora cluster needs a cluster snapshot instead).`,
    );
  }
  if (name === "InvalidDBInstanceStateFault") {
    return new StepError(
      `${what}: DB instance "${args.dbInstanceIdentifier}" cannot be snapshotted in its current state ` +
        `(${describeAwsError(error)}). Wait until it is "available", then rerun.`,
    );
  }
  return new StepError(
    `${what} failed: ${describeAwsError(error)}. ` +
      `Check AWS credentials, region and endpoint, then rerun (a snapshot this upgrade already started is reused).`,
  );
}

/** Clocks differ (this machine's, which stamped the preflight, and AWS's): a snapshot may look this early. */
export const CLOCK_SKEW_SECONDS = 300;

export interface SnapshotRequest {
  snapshotIdentifier: string;
  dbInstanceIdentifier: string;
  upgradeStartedAt?: string;
  acceptSnapshotCreatedAt?: string;
}

/**
 * Whether an existing snapshot is this upgrade's backup: a reason to reuse it, or a StepError that
 * names it, when it was taken, and the two ways on. Pure, so the rule is tested by table.
 */
export function existingSnapshotVerdict(
  snapshot: Pick<DBSnapshot, "SnapshotCreateTime" | "Status">,
  request: SnapshotRequest,
): { reuse: string } | { refuse: StepError } {
  const taken = snapshot.SnapshotCreateTime;
  if (taken === undefined) {
    // RDS stamps a snapshot once it is taken: without a time it is being created right now.
    return snapshot.Status === "available"
      ? {
          refuse: new StepError(
            `snapshot "${request.snapshotIdentifier}" is available but RDS gives no creation time: delete it and rerun`,
          ),
        }
      : { reuse: "being created now" };
  }
  const takenAt = taken.toISOString();
  if (request.upgradeStartedAt === undefined)
    return { reuse: `taken at ${takenAt}, by this upgrade's earlier run` };
  const started = Date.parse(request.upgradeStartedAt);
  if (taken.getTime() >= started - CLOCK_SKEW_SECONDS * 1000) {
    return { reuse: `taken at ${takenAt}, after this upgrade began (${request.upgradeStartedAt})` };
  }
  const accepted = request.acceptSnapshotCreatedAt;
  if (accepted !== undefined && Date.parse(accepted) === taken.getTime()) {
    return {
      reuse: `taken at ${takenAt}, before this upgrade began, acknowledged by backup.acceptSnapshotCreatedAt`,
    };
  }
  const id = request.snapshotIdentifier;
  return {
    refuse: new StepError(
      `snapshot "${id}" of ${request.dbInstanceIdentifier} was taken at ${takenAt}, before this upgrade began ` +
        `(${request.upgradeStartedAt}), so it is not this upgrade's backup: a restore from it would lose every ` +
        `change since.` +
        (accepted !== undefined ? ` backup.acceptSnapshotCreatedAt is "${accepted}", not its time.` : "") +
        ` Nothing was changed. Either delete it and rerun, which takes a fresh snapshot (keep a copy first if ` +
        `you need one: aws rds copy-db-snapshot --source-db-snapshot-identifier ${id} --target-db-snapshot-identifier ${id}-kept): ` +
        `aws rds delete-db-snapshot --db-snapshot-identifier ${id}. ` +
        `Or, if you know the database has not changed since it was taken and want it as this upgrade's backup, ` +
        `set backup.acceptSnapshotCreatedAt: "${takenAt}" in the stack config and rerun.`,
    ),
  };
}

/**
 * Creates the snapshot (or finds the one a previous run created) and waits until it is available.
 * A snapshot with the same id but of another DB instance is refused: it is not our backup.
 */
export async function rdsSnapshotBackup(
  args: AwsTarget & SnapshotRequest & { timeoutSeconds: number },
  ctx: StepContext,
): Promise<{ snapshotArn: string; snapshotIdentifier: string; seconds: number }> {
  if (!Number.isFinite(args.timeoutSeconds) || args.timeoutSeconds < 1) {
    throw new StepError(`timeoutSeconds must be a number >= 1, got ${args.timeoutSeconds}: fix the config`);
  }
  const id = args.snapshotIdentifier;
  const start = Date.now();
  const client = rdsClient(args);
  try {
    let snapshot = await findSnapshot(client, id).catch((error: unknown) => {
      throw failure("DescribeDBSnapshots", error, args);
    });
    if (snapshot && snapshot.DBInstanceIdentifier !== args.dbInstanceIdentifier) {
      throw new StepError(
        `snapshot "${id}" already exists but is of DB instance "${snapshot.DBInstanceIdentifier}", not ` +
          `"${args.dbInstanceIdentifier}", so it is not this upgrade's backup; nothing was changed. Its name comes ` +
          `from backup.dbInstanceIdentifier and targetRelease: check backup.dbInstanceIdentifier, and if it is ` +
          `right, move that snapshot out of the way (aws rds copy-db-snapshot --source-db-snapshot-identifier ${id} ` +
          `--target-db-snapshot-identifier ${id}-kept, then aws rds delete-db-snapshot --db-snapshot-identifier ${id}) and rerun.`,
      );
    }
    if (snapshot) {
      const verdict = existingSnapshotVerdict(snapshot, args);
      if ("refuse" in verdict) throw verdict.refuse;
      ctx.log(
        snapshot.Status === "available"
          ? `reusing available snapshot ${id} of ${args.dbInstanceIdentifier} (${verdict.reuse})`
          : `snapshot ${id} exists (status ${snapshot.Status}, ${verdict.reuse}); waiting for it`,
      );
    }
    if (snapshot?.Status !== "available") {
      if (!snapshot) {
        snapshot = await client
          .send(
            new CreateDBSnapshotCommand({
              DBInstanceIdentifier: args.dbInstanceIdentifier,
              DBSnapshotIdentifier: id,
            }),
          )
          .then((out) => out.DBSnapshot)
          .catch((error: unknown) => {
            throw failure("CreateDBSnapshot", error, args);
          });
        ctx.log(
          `creating snapshot ${id} of ${args.dbInstanceIdentifier}; waiting up to ${args.timeoutSeconds} s`,
        );
      }
      snapshot = await waitAvailable(client, args, ctx.signal);
    }
    const snapshotArn = snapshot?.DBSnapshotArn;
    if (!snapshotArn)
      throw new StepError(`snapshot ${id} is available but RDS returned no ARN for it: rerun`);
    const seconds = Math.round((Date.now() - start) / 100) / 10;
    ctx.log(`snapshot ${id} is available (${snapshotArn})`);
    return { snapshotArn, snapshotIdentifier: id, seconds };
  } finally {
    client.destroy();
  }
}

async function waitAvailable(
  client: RDSClient,
  args: { dbInstanceIdentifier: string; snapshotIdentifier: string; timeoutSeconds: number },
  signal?: AbortSignal,
): Promise<DBSnapshot | undefined> {
  const id = args.snapshotIdentifier;
  const start = Date.now();
  try {
    await waitUntilDBSnapshotAvailable(
      {
        client,
        minDelay: MIN_POLL_SECONDS,
        maxDelay: MAX_POLL_SECONDS,
        // A waiter gives up as soon as its next delay would pass maxWaitTime: up to maxDelay early.
        maxWaitTime: args.timeoutSeconds + MAX_POLL_SECONDS,
        abortSignal: signal,
      },
      { DBSnapshotIdentifier: id },
    );
  } catch (error) {
    const status = await findSnapshot(client, id).then(
      (s) => `status ${s?.Status ?? "gone"}`,
      (e: unknown) => `status unknown: ${describeAwsError(e)}`,
    );
    const name = awsErrorName(error);
    const why =
      name === "TimeoutError"
        ? `did not become available after ${Math.round((Date.now() - start) / 1000)} s (limit ${args.timeoutSeconds} s)`
        : name === "AbortError"
          ? "was cancelled while waiting"
          : "failed";
    throw new StepError(
      `snapshot ${id} of ${args.dbInstanceIdentifier} ${why} (${status}). ` +
        `Rerun to keep waiting for the same snapshot, or raise timeoutSeconds.`,
    );
  }
  return findSnapshot(client, id).catch((error: unknown) => {
    throw failure("DescribeDBSnapshots", error, args);
  });
}
