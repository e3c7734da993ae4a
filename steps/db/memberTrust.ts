/**
 * `log_bin_trust_function_creators` on every member of a Galera cluster (database.galeraMembers).
 * The setting is per member and `SET GLOBAL` does not outlive a restart, while the trigger privilege
 * check runs on whichever member glance-manage's connection reaches through the front. So:
 * - db/allow-functions sets it on every member that needs it (binary logging on, no SUPER), each
 *   reached at its own address, and records each member's value;
 * - the typed steps right before the schema steps (db/allow-functions before expand/migrate,
 *   fleet/verify before contract) re-check every member and set it again on one that came back from
 *   a restart at its configured value;
 * - db/restore-setting puts every member back to the value the preflight recorded for it, reading
 *   first and writing only a difference. A member it cannot reach is reported as pending and the
 *   step fails after restoring the others: a rerun of `up` runs it again and restores that member.
 */
import { StepContext, StepError } from "../context";
import { DbEndpoint } from "./connection";
import {
  privilegePreflight,
  readTrustFunctionCreators,
  restoreTrustFunctionCreators,
  setTrustFunctionCreators,
} from "./privileges";

export interface MemberAddress {
  host: string;
  port: number;
}

/** How the records key a member: `host:port` (IPv6 in brackets). */
export function memberKey(member: MemberAddress): string {
  return member.host.includes(":") ? `[${member.host}]:${member.port}` : `${member.host}:${member.port}`;
}

/** The same account, reached at one member's own address. */
export function onMember(db: DbEndpoint, member: MemberAddress): DbEndpoint {
  return { ...db, host: member.host, port: member.port };
}

export interface MemberSetting {
  previous: boolean;
  changed: boolean;
}

/**
 * db/allow-functions on a cluster: every member's privileges and setting, read at its own address,
 * and the setting set to 1 on each member that needs it. A member that needs it with no admin
 * credential (or one too weak) fails the step, naming the member, before any member is changed.
 */
export async function allowOnMembers(
  args: { glance: DbEndpoint; admin?: DbEndpoint; members: MemberAddress[] },
  ctx: StepContext,
): Promise<Record<string, MemberSetting>> {
  const { glance, admin, members } = args;
  const found = [];
  for (const member of members) {
    ctx.log(`Galera member ${memberKey(member)}:`);
    found.push({
      member,
      privileges: await privilegePreflight(
        { glance: onMember(glance, member), admin: admin && onMember(admin, member) },
        ctx,
      ),
    });
  }
  const settings: Record<string, MemberSetting> = {};
  for (const { member, privileges } of found) {
    if (!privileges.needsSetting || !admin) {
      settings[memberKey(member)] = { previous: privileges.trustFunctionCreators, changed: false };
      continue;
    }
    settings[memberKey(member)] = await setTrustFunctionCreators({ admin: onMember(admin, member) }, ctx);
  }
  return settings;
}

/**
 * The re-check before a schema step: every member reachable at its own address reads 1 where the
 * upgrade needs it. One that reads 0 (restarted since db/allow-functions: SET GLOBAL does not
 * survive that) is set to 1 again. A member that does not answer is out of the cluster and serves
 * nobody: it is reported and left for the next re-check (and for db/restore-setting).
 */
export async function recheckOnMembers(
  args: { glance: DbEndpoint; admin: DbEndpoint; members: MemberAddress[] },
  ctx: StepContext,
): Promise<{ setAgain: string[]; unreachable: string[] }> {
  const { glance, admin, members } = args;
  const setAgain: string[] = [];
  const unreachable: string[] = [];
  for (const member of members) {
    const key = memberKey(member);
    try {
      if (await readTrustFunctionCreators(onMember(admin, member))) continue;
      const found = await privilegePreflight(
        { glance: onMember(glance, member), admin: onMember(admin, member) },
        ctx,
      );
      if (!found.needsSetting) continue;
      ctx.log(
        `Galera member ${key} reads log_bin_trust_function_creators=0 (restarted since db/allow-functions?): setting it to 1 again`,
      );
      await setTrustFunctionCreators({ admin: onMember(admin, member) }, ctx);
      setAgain.push(key);
    } catch (error) {
      ctx.log(
        `Galera member ${key} could not be re-checked (${error instanceof Error ? error.message : String(error)}); ` +
          "it is not serving: it is checked again before the next schema step",
      );
      unreachable.push(key);
    }
  }
  return { setAgain, unreachable };
}

/**
 * db/restore-setting on a cluster: every member back to its recorded value (`previousOf`), the
 * reachable ones first; then, if a member could not be reached, the step fails naming it, the value
 * it must get and how to finish: a rerun of `up` runs this step again (a failed step has no state).
 */
export async function restoreOnMembers(
  args: { admin: DbEndpoint; members: MemberAddress[]; previousOf: (key: string) => boolean },
  ctx: StepContext,
): Promise<Record<string, { restoredTo: boolean; changed: boolean }>> {
  const { admin, members, previousOf } = args;
  const restored: Record<string, { restoredTo: boolean; changed: boolean }> = {};
  const pending: string[] = [];
  for (const member of members) {
    const key = memberKey(member);
    try {
      restored[key] = await restoreTrustFunctionCreators(
        { admin: onMember(admin, member), previous: previousOf(key) },
        ctx,
      );
    } catch (error) {
      pending.push(`${key} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (pending.length > 0) {
    const done = Object.keys(restored);
    throw new StepError(
      `log_bin_trust_function_creators restored on ${done.length > 0 ? done.join(", ") : "no member"}, ` +
        `but not on ${pending.length} unreachable member(s): ${pending.join("; ")}. ` +
        "A member that restarts comes back at its configured value (my.cnf), usually the one to restore. " +
        "Bring the member back to Synced, then rerun up: db/restore-setting runs again, reads every member " +
        "and restores what differs. Or, on that member: " +
        pendingCommands(members, pending, previousOf),
    );
  }
  return restored;
}

function pendingCommands(
  members: MemberAddress[],
  pending: string[],
  previousOf: (key: string) => boolean,
): string {
  return members
    .map(memberKey)
    .filter((key) => pending.some((p) => p.startsWith(`${key} `)))
    .map((key) => `${key}: SET GLOBAL log_bin_trust_function_creators=${previousOf(key) ? 1 : 0}`)
    .join("; ");
}
