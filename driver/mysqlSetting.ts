import type { Deployment } from "@pulumi/pulumi/automation";
import { UpgradeConfig } from "../plan/config";
import { dbStep, PREFLIGHT_STEP } from "../plan/stepIds";
import {
  readTrustFunctionCreators,
  restoreTrustFunctionCreators,
  setTrustFunctionCreators,
} from "../steps/db/privileges";
import { DbEndpoint } from "../steps/db/connection";
import { StepContext } from "../steps/context";
import { pendingOperations, recordNamed, stepRecords, urnName } from "./state";
import { OLD_PREFLIGHT_NOTE, recordedTrustBefore, trustRestore } from "../steps/db/trustRecord";
import { readAs } from "../steps/results";
import { galeraMemberAddress } from "../plan/config/databaseSchema";
import { memberKey, onMember, restoreOnMembers } from "../steps/db/memberTrust";

/** What the stack recorded about log_bin_trust_function_creators for its current chain. */
export interface SettingRecord {
  release: string;
  /** The chain (or a killed run of it) may have changed the value: restore it after a failure. */
  changed: boolean;
  /** The value before the chain changed it. */
  previous: boolean;
  /** db/restore-setting ran for this chain. */
  restored: boolean;
  /** db/allow-functions finished for this chain, so the steps after it rely on the value. */
  allowed: boolean;
  /** Where `previous` comes from (the preflight's record; an older state: allow-functions' read). */
  from: "preflight" | "allow-functions";
  /** With database.galeraMembers: each member's value before, by `host:port` (the preflight's record). */
  previousByMember?: Record<string, boolean>;
}

function byMember(
  preflight: Record<string, unknown> | null | undefined,
): Record<string, boolean> | undefined {
  const recorded = preflight?.trustBeforeByMember;
  if (typeof recorded !== "object" || recorded === null) return undefined;
  return Object.fromEntries(
    Object.entries(recorded).filter((entry): entry is [string, boolean] => typeof entry[1] === "boolean"),
  );
}

/**
 * The record, from the state: the previous value is the one the preflight recorded before anything
 * changed (steps/db/trustRecord.ts). A run killed inside db/allow-functions (its create still
 * pending: read this before `recover` clears it) may have set the value between its SET GLOBAL and
 * the state write, so the record then says "changed" whenever the chain could set it: the restore
 * reads the value first and writes only a difference.
 */
export function settingRecord(deployment: Deployment, adminConfigured: boolean): SettingRecord | undefined {
  const records = stepRecords(deployment);
  const preflight = recordNamed(records, PREFLIGHT_STEP)?.outputs;
  const before = recordedTrustBefore(preflight?.result);
  const allow = recordNamed(records, dbStep("allow-functions"))?.outputs;
  const restore = recordNamed(records, dbStep("restore-setting"))?.outputs;
  const allowedFor = allow?.result && allow.release ? allow.release : undefined;
  if (allow?.result && allowedFor && (before === undefined || preflight?.release === allowedFor)) {
    const restored =
      restore?.release === allowedFor &&
      (restore.startedAt ?? "") > (allow.startedAt ?? "") &&
      restore.result !== undefined;
    const allowed = readAs("allow-functions", allow.result);
    const decided = trustRestore({
      before,
      allow: { previous: allowed.previous === true, changed: allowed.changed === true },
      adminConfigured,
    });
    const members = byMember(preflight?.result);
    return {
      release: allowedFor,
      ...decided,
      restored,
      allowed: true,
      ...(members ? { previousByMember: members } : {}),
    };
  }
  // A failed allow-functions set nothing; a killed one may have, and left its create pending.
  const killed = pendingOperations(deployment).some(
    (op) => urnName(op.resource.urn) === dbStep("allow-functions"),
  );
  if (before === undefined || !preflight?.release || !killed) return undefined;
  return {
    release: preflight.release,
    previous: before,
    changed: adminConfigured && !before,
    restored: false,
    allowed: false,
    from: "preflight",
    ...(byMember(preflight.result) ? { previousByMember: byMember(preflight.result) } : {}),
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
  if (record.from === "allow-functions") ctx.log(OLD_PREFLIGHT_NOTE);
  const members = config.database.galeraMembers?.map(galeraMemberAddress);
  if (members) {
    const recorded = record.previousByMember ?? {};
    try {
      const restored = await restoreOnMembers(
        { admin, members, previousOf: (key) => recorded[key] ?? record.previous },
        ctx,
      );
      return (
        "log_bin_trust_function_creators on every Galera member back to its value before the upgrade " +
        `(${Object.entries(restored)
          .map(([key, r]) => `${key}=${r.restoredTo ? 1 : 0}`)
          .join(", ")}) while the upgrade is unfinished (set again when it resumes)`
      );
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
  try {
    const restored = await restoreTrustFunctionCreators({ admin, previous: record.previous }, ctx);
    const value = restored.restoredTo ? 1 : 0;
    if (!restored.changed)
      return `log_bin_trust_function_creators is ${value}, its value before the upgrade: nothing to restore`;
    return `log_bin_trust_function_creators restored to ${value} while the upgrade is unfinished (set again when it resumes)`;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const where = `database at ${admin.host}:${admin.port}: ${why}`;
    const byHand = `SET GLOBAL log_bin_trust_function_creators=${record.previous ? 1 : 0}`;
    // Before allow-functions is recorded, only a killed run of it can have set the value.
    if (!record.allowed)
      return `log_bin_trust_function_creators could not be checked (${where}); if a killed run set it, set it back by hand: ${byHand}`;
    return (
      `log_bin_trust_function_creators could not be restored to ${record.previous ? 1 : 0} ` +
      `(${where}); it stays 1 until the next up completes, or set it back by hand: ${byHand}`
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
  if (!record?.allowed || !record.changed || record.restored || record.release !== config.targetRelease)
    return undefined;
  const admin = await adminEndpoint(config, adminPassword);
  if (!admin) return undefined;
  const members = config.database.galeraMembers?.map(galeraMemberAddress);
  if (members) {
    // Every member the chain set: the one glance-manage's connection reaches may be any of them.
    const recorded = record.previousByMember ?? {};
    const setAgain: string[] = [];
    for (const member of members) {
      const key = memberKey(member);
      if ((recorded[key] ?? record.previous) === true) continue;
      const at = onMember(admin, member);
      try {
        if (await readTrustFunctionCreators(at)) continue;
        await setTrustFunctionCreators({ admin: at }, ctx);
        setAgain.push(key);
      } catch (error) {
        ctx.log(
          `Galera member ${key}: not set again (${error instanceof Error ? error.message : String(error)})`,
        );
      }
    }
    return setAgain.length > 0
      ? `log_bin_trust_function_creators set to 1 again on ${setAgain.join(", ")} to resume the interrupted upgrade`
      : undefined;
  }
  if (await readTrustFunctionCreators(admin)) return undefined;
  await setTrustFunctionCreators({ admin }, ctx);
  return "log_bin_trust_function_creators set to 1 again to resume the interrupted upgrade";
}
