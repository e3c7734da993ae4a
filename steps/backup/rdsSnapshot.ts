/**
 * The database backup on RDS: a manual DB snapshot, waited for until `available`. The snapshot id
 * carries the target release (the caller's choice), so a rerun finds and reuses its own snapshot.
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
      `Check AWS credentials, region and endpoint, then rerun (an existing snapshot with this id is reused).`,
  );
}

/**
 * Creates the snapshot (or finds the one a previous run created) and waits until it is available.
 * A snapshot with the same id but of another DB instance is refused: it is not our backup.
 */
export async function rdsSnapshotBackup(
  args: AwsTarget & { dbInstanceIdentifier: string; snapshotIdentifier: string; timeoutSeconds: number },
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
          `"${args.dbInstanceIdentifier}": choose another snapshotIdentifier.`,
      );
    }
    if (snapshot?.Status === "available") {
      ctx.log(
        `reusing available snapshot ${id} of ${args.dbInstanceIdentifier} (${snapshot.SnapshotCreateTime?.toISOString() ?? "time unknown"})`,
      );
    } else {
      if (snapshot) {
        ctx.log(`snapshot ${id} exists (status ${snapshot.Status}); waiting for it`);
      } else {
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
