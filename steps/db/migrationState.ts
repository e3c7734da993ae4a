import mysql from "mysql2/promise";
import { StepContext, StepError } from "../context";
import { DbEndpoint, describeEndpoint, withConnection } from "./connection";

/** What `glance-manage db check` reports, by its exit code. */
export type DbCheckState = "up-to-date" | "expand-needed" | "migrate-needed" | "contract-needed";

const STATE_BY_EXIT_CODE: ReadonlyMap<number, DbCheckState> = new Map([
  [0, "up-to-date"],
  [3, "expand-needed"],
  [4, "migrate-needed"],
  [5, "contract-needed"],
]);

export function interpretDbCheckExit(code: number): DbCheckState {
  const state = STATE_BY_EXIT_CODE.get(code);
  if (state === undefined) {
    throw new StepError(
      `'glance-manage db check' exited with code ${code}, which is none of 0 (up to date), 3 (expand needed), ` +
        `4 (migrate needed) or 5 (contract needed): it failed; read its output above (database reachable? ` +
        `glance-api.conf [database] connection correct? run with the NEW release's code?)`,
    );
  }
  return state;
}

export function describeDbCheck(state: DbCheckState): string {
  switch (state) {
    case "up-to-date":
      return "the database schema is up to date (no expand, migrate or contract pending)";
    case "expand-needed":
      return "'glance-manage db expand' is needed (schema additions pending)";
    case "migrate-needed":
      return "'glance-manage db migrate' is needed (data migrations pending)";
    case "contract-needed":
      return "'glance-manage db contract' is needed (expanded and migrated; old schema parts still to remove)";
  }
}

/** The alembic revisions recorded in `alembic_version` (sorted); empty when the table does not exist yet. */
export async function alembicHeads(db: DbEndpoint, ctx: StepContext): Promise<string[]> {
  const heads = await withConnection(db, "read the alembic_version table", async (conn) => {
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'alembic_version'",
    );
    if (tables.length === 0) return [];
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT version_num FROM alembic_version");
    return rows.map((row) => String(row.version_num)).sort();
  });
  ctx.log(
    heads.length > 0
      ? `alembic heads of ${describeEndpoint(db)}: ${heads.join(", ")}`
      : `${describeEndpoint(db)} has no alembic_version table (an empty or never-migrated database)`,
  );
  return heads;
}
