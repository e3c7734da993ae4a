import { restoreAfterFailure, settingRecord } from "../mysqlSetting";
import {
  clearPendingOperations,
  fileBackendLocks,
  launchInFlightAdvice,
  releaseStaleLocks,
} from "../recover";
import { urnName } from "../state";
import { dbStep } from "../../plan/stepIds";
import { CommandHandler, EXIT_FAILED } from "./context";
import { say } from "./output";

/** After a killed run: releases its stale lock, clears its pending operations, restores the setting. */
export const recover: CommandHandler = async ({ options, opened, stack, config, adminPassword, log }) => {
  const backend = opened.env.PULUMI_BACKEND_URL;
  const { released, blocking } = releaseStaleLocks(
    fileBackendLocks(backend, "glance-rolling-upgrade", options.stack),
  );
  for (const lock of released)
    say(`[driver] released the lock of pid ${lock.pid} (gone) from ${lock.timestamp}`);
  if (blocking.length > 0) {
    for (const reason of blocking) say(`[driver] ${reason}`);
    return EXIT_FAILED;
  }
  if (!backend.startsWith("file://"))
    say(`[driver] ${backend} is not a file backend: check its lock with your backend's tools`);
  const killed = await stack.exportStack();
  const { cleaned, cleared, launches } = clearPendingOperations(killed);
  if (cleared.length > 0 || launches.length > 0) {
    await stack.importStack(cleaned);
    for (const op of cleared)
      say(`[driver] cleared pending ${op.type} of ${urnName(op.resource.urn)}: it runs again on the next up`);
    if (cleared.some((op) => urnName(op.resource.urn) === dbStep("contract")))
      say(
        "[driver] db contract was running when the run was killed: the schema may be partly contracted, so " +
          "`rollback` stays refused; `up` finishes it, or restore the pre-upgrade backup (README: recovery)",
      );
  }
  const stackConfig = await config();
  for (const launch of launches)
    say(`[driver] ${launchInFlightAdvice(launch, options.stack, stackConfig.targetRelease)}`);
  // Read before the pending operations go: a pending allow-functions may have set the value.
  const record = settingRecord(killed, stackConfig.database.adminUser !== undefined);
  say(`[driver] ${await restoreAfterFailure(record, stackConfig, adminPassword, log)}`);
  if (launches.length > 0) return EXIT_FAILED;
  say("[driver] recovered: run `up` to finish the upgrade; finished steps are not repeated");
  return 0;
};
