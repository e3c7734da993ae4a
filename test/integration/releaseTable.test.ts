/**
 * Issue 34, item 4: can an operator see that every data migration between two releases ran?
 * glance-manage runs, and `db check` reports, only the data migrations of its own CURRENT_RELEASE
 * (glance/db/sqlalchemy/alembic_migrations/data_migrations/__init__.py). So the product's release
 * table records which releases carry one that moves rows, and refuses a skip-level jump over such a
 * release (steps/releases.ts). This reads every lab release's installed code to keep that table true.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RELEASES } from "../../lab/releases";
import { venvDir } from "../../lab/venvs";
import { GLANCE_RELEASES } from "../../steps/releases";
import { readReleaseCode, tableMismatches } from "../support/releaseCode";

describe("the release table agrees with Glance's own code", () => {
  it.each(Object.keys(RELEASES))("%s: its release, version and data migrations", (release) => {
    const code = readReleaseCode(venvDir(release));
    expect(code.dataMigrationModules.length).toBeGreaterThan(0);
    expect(tableMismatches(release, code)).toEqual([]);
  });

  it("a negative control: a release whose code gains a data migration that moves rows is reported", () => {
    const venv = fs.mkdtempSync(path.join(os.tmpdir(), "gru-release-code-"));
    try {
      const site = path.join(venv, "lib", "python3.11", "site-packages");
      const folder = path.join(site, "glance", "db", "sqlalchemy", "alembic_migrations", "data_migrations");
      fs.mkdirSync(folder, { recursive: true });
      fs.mkdirSync(path.join(site, "glance-29.0.0.dist-info"));
      fs.writeFileSync(path.join(site, "glance", "db", "migration.py"), "CURRENT_RELEASE = '2024_2'\n");
      for (const module of ["__init__", "2024_1_migrate01_empty", "2024_2_migrate01_backfill"])
        fs.writeFileSync(path.join(folder, `${module}.py`), "");
      expect(tableMismatches("2024.2", readReleaseCode(venv))).toEqual([
        "2024.2: 2024.2's data migration moves rows, the table says dataMigration false",
      ]);
      // The same code against a table that records it: no mismatch.
      const recorded = GLANCE_RELEASES.map((row) =>
        row.release === "2024.2" ? { ...row, dataMigration: true } : row,
      );
      const rowOf = (name: string) => recorded.find((row) => row.release === name);
      expect(tableMismatches("2024.2", readReleaseCode(venv), rowOf)).toEqual([]);
    } finally {
      fs.rmSync(venv, { recursive: true, force: true });
    }
  });
});
