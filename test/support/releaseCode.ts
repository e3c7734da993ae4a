/**
 * What a release's installed Glance code says about itself, read from its virtualenv: its
 * CURRENT_RELEASE, its version, and the data migration modules it carries. Compared with the
 * product's release table (steps/releases.ts), so the table cannot drift from Glance's code.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { GlanceRelease, releaseNamed } from "../../steps/releases";

export interface ReleaseCode {
  /** `glance.db.migration.CURRENT_RELEASE`, e.g. 2024_1. */
  currentRelease: string;
  /** The installed Glance's version (its dist-info). */
  glanceVersion: string;
  /** The data_migrations modules, e.g. 2024_1_migrate01_empty. */
  dataMigrationModules: string[];
}

/** The site-packages directory of a virtualenv (python3.X). */
function sitePackages(venv: string): string {
  const lib = path.join(venv, "lib");
  const python = fs.readdirSync(lib).find((name) => name.startsWith("python3"));
  if (!python) throw new Error(`${lib} holds no python3.X directory`);
  return path.join(lib, python, "site-packages");
}

export function readReleaseCode(venv: string): ReleaseCode {
  const site = sitePackages(venv);
  const migration = fs.readFileSync(path.join(site, "glance", "db", "migration.py"), "utf8");
  const current = /^CURRENT_RELEASE\s*=\s*'([^']+)'/m.exec(migration);
  const distInfo = fs.readdirSync(site).find((name) => /^glance-[\d.]+[^/]*\.dist-info$/.test(name));
  const folder = path.join(site, "glance", "db", "sqlalchemy", "alembic_migrations", "data_migrations");
  return {
    currentRelease: current?.[1] ?? "",
    glanceVersion: distInfo ? distInfo.replace(/^glance-/, "").replace(/\.dist-info$/, "") : "",
    dataMigrationModules: fs
      .readdirSync(folder)
      .filter((name) => name.endsWith(".py") && name !== "__init__.py")
      .map((name) => name.replace(/\.py$/, ""))
      .sort(),
  };
}

/** Where the table disagrees with one release's code; empty when it agrees. */
export function tableMismatches(
  release: string,
  code: ReleaseCode,
  rowOf: (release: string) => GlanceRelease | undefined = releaseNamed,
): string[] {
  const problems: string[] = [];
  const row = rowOf(release);
  if (!row) return [`${release}: not in the release table`];
  if (code.currentRelease !== release.replace(".", "_"))
    problems.push(`${release}: the code's CURRENT_RELEASE is ${code.currentRelease}`);
  if (Number(code.glanceVersion.split(".")[0]) !== row.glanceMajor)
    problems.push(
      `${release}: the code is Glance ${code.glanceVersion}, the table says ${row.glanceMajor}.x`,
    );
  const movesRows = new Map<string, boolean>();
  for (const module of code.dataMigrationModules) {
    const named = /^(\d{4})_(\d)_migrate\d+_/.exec(module);
    if (!named) continue; // the code names older releases (ocata_, train_...) by their code names
    const of = `${named[1]}.${named[2]}`;
    movesRows.set(of, (movesRows.get(of) ?? false) || !module.endsWith("_empty"));
  }
  for (const [of, moves] of movesRows) {
    const ofRow = rowOf(of);
    if (!ofRow) problems.push(`${release}: carries ${of}'s data migration, a release not in the table`);
    else if (ofRow.dataMigration !== moves)
      problems.push(
        `${release}: ${of}'s data migration ${moves ? "moves rows" : "is a placeholder"}, the table says dataMigration ${ofRow.dataMigration}`,
      );
  }
  return problems;
}
