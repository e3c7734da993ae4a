import mysql from "mysql2/promise";
import { StepContext, StepError } from "../context";
import { DbConnection, DbEndpoint, describeEndpoint, queryOne, withConnection } from "./connection";

/**
 * `db expand` creates triggers. With binary logging on, MySQL/MariaDB refuse that (error 1419) unless
 * the creator has SUPER or `log_bin_trust_function_creators` is 1. BINLOG ADMIN is not enough for the
 * trigger (verified on MariaDB 10.11), but it is enough to SET the variable.
 */
const TRUSTED_CREATOR_PRIVILEGES = ["SUPER", "ALL PRIVILEGES"];
/** MariaDB >= 10.5.2 accepts BINLOG ADMIN, MySQL 8 SYSTEM_VARIABLES_ADMIN, both SUPER. */
const SET_TRUST_PRIVILEGES = ["SUPER", "ALL PRIVILEGES", "BINLOG ADMIN", "SYSTEM_VARIABLES_ADMIN"];

export interface PrivilegePreflight {
  binlogEnabled: boolean;
  trustFunctionCreators: boolean;
  glanceHasSuper: boolean;
  /** Binary logging on, the setting off and no SUPER: `db expand` would fail unless we set it. */
  needsSetting: boolean;
}

async function readFlag(
  conn: DbConnection,
  variable: "log_bin" | "log_bin_trust_function_creators",
): Promise<boolean> {
  const value = (await queryOne(conn, `SELECT @@GLOBAL.${variable} AS value`)).value;
  return Number(value) === 1;
}

/**
 * The privileges the connected user holds on `*.*`, from SHOW GRANTS (the current user and its
 * active roles on MariaDB). The lines also carry the password hash: only the privilege names are kept.
 */
async function globalPrivileges(conn: DbConnection): Promise<Set<string>> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW GRANTS");
  return parseGlobalPrivileges(rows.map((row) => String(Object.values(row)[0])));
}

export function parseGlobalPrivileges(grantLines: string[]): Set<string> {
  const privileges = new Set<string>();
  for (const line of grantLines) {
    const match = /^GRANT (.+?) ON \*\.\* TO /.exec(line);
    if (!match?.[1]) continue;
    for (const privilege of match[1].split(",")) privileges.add(privilege.trim().toUpperCase());
  }
  return privileges;
}

/** The account the server matched, quoted for a GRANT statement: 'glance'@'%'. */
async function currentAccount(conn: DbConnection): Promise<string> {
  const matched = String((await queryOne(conn, "SELECT CURRENT_USER() AS account")).account);
  const at = matched.lastIndexOf("@");
  return `'${matched.slice(0, at)}'@'${matched.slice(at + 1)}'`;
}

function holdsAny(privileges: Set<string>, wanted: string[]): boolean {
  return wanted.some((p) => privileges.has(p));
}

function describePrivileges(privileges: Set<string>): string {
  return privileges.size > 0 ? [...privileges].join(", ") : "none";
}

function rdsHint(rds: { parameterGroup?: string } | undefined): string {
  if (!rds) return "";
  const group = rds.parameterGroup
    ? `DB parameter group '${rds.parameterGroup}'`
    : "the instance's DB parameter group";
  return (
    ` On RDS nobody has SUPER and SET GLOBAL is refused: set log_bin_trust_function_creators = 1 in ${group}` +
    ` (a dynamic parameter, no reboot needed), or attach a custom parameter group that sets it.`
  );
}

export async function privilegePreflight(
  args: { glance: DbEndpoint; admin?: DbEndpoint; rds?: { parameterGroup?: string } },
  ctx: StepContext,
): Promise<PrivilegePreflight> {
  const { glance, admin, rds } = args;
  const found = await withConnection(glance, "read binary logging and privileges", async (conn) => ({
    binlogEnabled: await readFlag(conn, "log_bin"),
    trustFunctionCreators: await readFlag(conn, "log_bin_trust_function_creators"),
    glanceHasSuper: holdsAny(await globalPrivileges(conn), TRUSTED_CREATOR_PRIVILEGES),
    account: await currentAccount(conn),
  }));
  const { account, ...flags } = found;
  const needsSetting = found.binlogEnabled && !found.trustFunctionCreators && !found.glanceHasSuper;
  ctx.log(
    `database privileges: binary logging ${found.binlogEnabled ? "on" : "off"}, ` +
      `log_bin_trust_function_creators=${found.trustFunctionCreators ? 1 : 0}, ` +
      `'${glance.user}' ${found.glanceHasSuper ? "has" : "lacks"} SUPER` +
      (needsSetting
        ? ": log_bin_trust_function_creators must be set to 1 for the upgrade"
        : ": nothing to set"),
  );
  if (!needsSetting) return { ...flags, needsSetting };

  const problem =
    `binary logging is on, log_bin_trust_function_creators is 0 and '${glance.user}' has no SUPER privilege ` +
    `on ${glance.host}:${glance.port}, so 'glance-manage db expand' would fail creating triggers ` +
    `(error 1419) and leave the schema half-changed.`;
  if (!admin) {
    throw new StepError(
      `${problem} Do one of: run "SET GLOBAL log_bin_trust_function_creators = 1;" as an administrator ` +
        `before the upgrade; or configure database.adminUser and database.adminPassword so the upgrade ` +
        `sets it and restores it afterwards; or run "GRANT SUPER ON *.* TO ${account};" as an administrator.` +
        rdsHint(rds),
    );
  }

  const adminPrivileges = await withConnection(admin, "read the admin user's privileges", globalPrivileges);
  if (!holdsAny(adminPrivileges, SET_TRUST_PRIVILEGES)) {
    throw new StepError(
      `${problem} The configured admin user '${admin.user}' cannot set it either: it holds ` +
        `${describePrivileges(adminPrivileges)} on *.*, and setting log_bin_trust_function_creators needs ` +
        `SUPER (or BINLOG ADMIN on MariaDB >= 10.5.2, SYSTEM_VARIABLES_ADMIN on MySQL 8). ` +
        `Grant one of those to '${admin.user}', configure another admin user, or set the variable yourself.` +
        rdsHint(rds),
    );
  }
  ctx.log(`admin user ${describeEndpoint(admin)} can set log_bin_trust_function_creators`);
  return { ...flags, needsSetting };
}

export async function readTrustFunctionCreators(db: DbEndpoint): Promise<boolean> {
  return withConnection(db, "read log_bin_trust_function_creators", (conn) =>
    readFlag(conn, "log_bin_trust_function_creators"),
  );
}

/** Sets the global value and reads it back, so a silently ignored SET is caught. */
async function writeTrust(conn: DbConnection, admin: DbEndpoint, value: boolean): Promise<void> {
  await conn.query(`SET GLOBAL log_bin_trust_function_creators = ${value ? 1 : 0}`);
  const now = await readFlag(conn, "log_bin_trust_function_creators");
  if (now !== value) {
    throw new StepError(
      `SET GLOBAL log_bin_trust_function_creators = ${value ? 1 : 0} as '${admin.user}' on ${admin.host}:${admin.port} ` +
        `did not take effect (it still reads ${now ? 1 : 0}); check the server's configuration`,
    );
  }
}

export async function setTrustFunctionCreators(
  args: { admin: DbEndpoint },
  ctx: StepContext,
): Promise<{ previous: boolean; changed: boolean }> {
  const { admin } = args;
  const previous = await withConnection(admin, "set log_bin_trust_function_creators = 1", async (conn) => {
    const before = await readFlag(conn, "log_bin_trust_function_creators");
    if (!before) await writeTrust(conn, admin, true);
    return before;
  });
  ctx.log(
    previous
      ? `log_bin_trust_function_creators already 1 on ${admin.host}:${admin.port}: left as is`
      : `log_bin_trust_function_creators set to 1 on ${admin.host}:${admin.port} (was 0)`,
  );
  return { previous, changed: !previous };
}

export async function restoreTrustFunctionCreators(
  args: { admin: DbEndpoint; previous: boolean },
  ctx: StepContext,
): Promise<{ restoredTo: boolean; changed: boolean }> {
  const { admin, previous } = args;
  const changed = await withConnection(admin, "restore log_bin_trust_function_creators", async (conn) => {
    const current = await readFlag(conn, "log_bin_trust_function_creators");
    if (current === previous) return false;
    await writeTrust(conn, admin, previous);
    return true;
  });
  ctx.log(
    changed
      ? `log_bin_trust_function_creators restored to ${previous ? 1 : 0} on ${admin.host}:${admin.port}`
      : `log_bin_trust_function_creators already ${previous ? 1 : 0} on ${admin.host}:${admin.port}: nothing to restore`,
  );
  return { restoredTo: previous, changed };
}
