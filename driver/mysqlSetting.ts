import type { Deployment } from "@pulumi/pulumi/automation";
import { UpgradeConfig } from "../plan/config";
import { dbStep } from "../plan/stepIds";
import {
  readTrustFunctionCreators,
  restoreTrustFunctionCreators,
  setTrustFunctionCreators,
} from "../steps/db/privileges";
import { DbEndpoint } from "../steps/db/connection";
import { StepContext } from "../steps/context";
import { recordNamed, stepRecords } from "./state";

/** What the stack recorded about log_bin_trust_function_creators for its current chain. */
export interface SettingRecord {
  release: string;
  changed: boolean;
  previous: boolean;
  /** db/restore-setting ran for this chain. */
  restored: boolean;
}

export function settingRecord(deployment: Deployment): SettingRecord | undefined {
  const records = stepRecords(deployment);
  const allow = recordNamed(records, dbStep("allow-functions"))?.outputs;
  if (!allow?.result || !allow.release) return undefined;
  const restore = recordNamed(records, dbStep("restore-setting"))?.outputs;
  const restored =
    restore?.release === allow.release &&
    (restore.startedAt ?? "") > (allow.startedAt ?? "") &&
    restore.result !== undefined;
  return {
    release: allow.release,
    changed: allow.result.changed === true,
    previous: allow.result.previous === true,
    restored,
  };
}

/** The admin credential, read (and decrypted) only by the paths that need it. */
export type AdminPassword = () => Promise<string | undefined>;

async function adminEndpoint(
  config: UpgradeConfig,
  password: AdminPassword,
): Promise<DbEndpoint | undefined> {
  const db = config.database;
  if (!db.adminUser) return undefined;
  const adminPassword = await password();
  if (adminPassword === undefined) return undefined;
  return {
    host: db.host,
    port: db.port,
    user: db.adminUser,
    password: adminPassword,
    database: db.name,
    ssl: db.tls,
    ...(db.caFile ? { caFile: db.caFile } : {}),
  };
}

/** I7: after a failed run, put the setting back to what it was before the upgrade changed it. */
export async function restoreAfterFailure(
  record: SettingRecord | undefined,
  config: UpgradeConfig,
  adminPassword: AdminPassword,
  ctx: StepContext,
): Promise<string> {
  if (!record?.changed || record.restored)
    return "log_bin_trust_function_creators: not changed by this upgrade";
  const admin = await adminEndpoint(config, adminPassword);
  if (!admin) return "log_bin_trust_function_creators: changed, but no admin credential to restore it";
  try {
    const restored = await restoreTrustFunctionCreators({ admin, previous: record.previous }, ctx);
    return `log_bin_trust_function_creators restored to ${restored.restoredTo ? 1 : 0} while the upgrade is unfinished (set again when it resumes)`;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return (
      `log_bin_trust_function_creators could not be restored to ${record.previous ? 1 : 0} ` +
      `(database at ${admin.host}:${admin.port}: ${why}); it stays 1 until the next up completes, ` +
      `or set it back by hand: SET GLOBAL log_bin_trust_function_creators=${record.previous ? 1 : 0}`
    );
  }
}

/** Before resuming the same chain: re-apply the setting the driver restored after the failure. */
export async function reapplyBeforeResume(
  record: SettingRecord | undefined,
  config: UpgradeConfig,
  adminPassword: AdminPassword,
  ctx: StepContext,
): Promise<string | undefined> {
  if (!record?.changed || record.restored || record.release !== config.targetRelease) return undefined;
  const admin = await adminEndpoint(config, adminPassword);
  if (!admin || (await readTrustFunctionCreators(admin))) return undefined;
  await setTrustFunctionCreators({ admin }, ctx);
  return "log_bin_trust_function_creators set to 1 again to resume the interrupted upgrade";
}
