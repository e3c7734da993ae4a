/**
 * The Glance releases this program knows and the upgrades between them it supports: product data,
 * read by the config check (plan/config/releaseChecks.ts), the preflight (from what nodes report)
 * and the lab. OpenStack supports an upgrade to the next release, and, on the SLURP cadence, from
 * one SLURP release to the next (skipping the release between); nothing else. To support a new
 * release, add a row: its OpenStack name, Glance's major version (PyPI), and whether it is SLURP.
 */
import { parseVersion } from "./version";

export interface GlanceRelease {
  /** OpenStack's release name, as `targetRelease` and `rollbackTo.release` write it. */
  release: string;
  /** Glance's major version in that release (2024.1 ships Glance 28.x). */
  glanceMajor: number;
  /** A SLURP release (Skip Level Upgrade Release Process): upgradable to the next SLURP release. */
  slurp: boolean;
  /**
   * Glance's code carries a data migration for this release that moves rows: a
   * `data_migrations/<release>_migrate*` module that is not a placeholder (`*_empty`). glance-manage
   * runs only the modules of its own release (`CURRENT_RELEASE`), and `db check` looks only at them,
   * so a skip-level jump over such a release would skip its migration and nothing would say so.
   * None in 2023.1-2026.2: the modules there are 2023_1_migrate01_empty and 2024_1_migrate01_empty
   * (test/integration/releaseTable.test.ts reads every installed release's code to keep this true).
   */
  dataMigration: boolean;
}

/** Oldest first; each row is the next release after the one above it. */
export const GLANCE_RELEASES: readonly GlanceRelease[] = [
  { release: "2023.1", glanceMajor: 26, slurp: true, dataMigration: false },
  { release: "2023.2", glanceMajor: 27, slurp: false, dataMigration: false },
  { release: "2024.1", glanceMajor: 28, slurp: true, dataMigration: false },
  { release: "2024.2", glanceMajor: 29, slurp: false, dataMigration: false },
  { release: "2025.1", glanceMajor: 30, slurp: true, dataMigration: false },
  { release: "2025.2", glanceMajor: 31, slurp: false, dataMigration: false },
  { release: "2026.1", glanceMajor: 32, slurp: true, dataMigration: false },
  { release: "2026.2", glanceMajor: 33, slurp: false, dataMigration: false },
];

/** The row named `release`, if this program knows it. */
export function releaseNamed(release: string): GlanceRelease | undefined {
  return GLANCE_RELEASES.find((row) => row.release === release);
}

/** The row whose Glance major version `version` has (28.2.0-0ubuntu1 -> 2024.1), if known. */
export function releaseOfVersion(version: string): GlanceRelease | undefined {
  const major = parseVersion(version)?.release[0];
  return major === undefined ? undefined : GLANCE_RELEASES.find((row) => row.glanceMajor === major);
}

/** "2023.1 (Glance 26), ..., 2026.2 (Glance 33)": for messages. */
export function knownReleasesText(): string {
  return GLANCE_RELEASES.map((row) => `${row.release} (Glance ${row.glanceMajor})`).join(", ");
}

export type Jump =
  | { kind: "same" }
  /** The next release: always supported. */
  | { kind: "next" }
  /** From one SLURP release to the next, skipping one release: supported. */
  | { kind: "slurp"; skipped: string }
  | { kind: "downgrade" }
  /**
   * Anything else: refused. `via` are the releases to go through, in order; `dataMigration` the
   * skipped release whose data migration makes a SLURP to SLURP jump unsafe.
   */
  | { kind: "unsupported"; via: string[]; dataMigration?: string };

/** A SLURP hop from index `at` of `table`: both ends SLURP, the release between without a data migration. */
function slurpHop(table: readonly GlanceRelease[], at: number): boolean {
  return at + 2 < table.length && table[at].slurp && table[at + 2].slurp && !table[at + 1].dataMigration;
}

/** What upgrading a fleet from `from` to `to` is (`table`: the release table, or a test's own). */
export function upgradeJump(
  from: GlanceRelease,
  to: GlanceRelease,
  table: readonly GlanceRelease[] = GLANCE_RELEASES,
): Jump {
  const a = table.indexOf(from);
  const b = table.indexOf(to);
  if (a === b) return { kind: "same" };
  if (b < a) return { kind: "downgrade" };
  if (b === a + 1) return { kind: "next" };
  if (b === a + 2 && slurpHop(table, a)) return { kind: "slurp", skipped: table[a + 1].release };
  const blocked = b === a + 2 && from.slurp && to.slurp ? table[a + 1].release : undefined;
  return {
    kind: "unsupported",
    via: supportedPath(table, a, b),
    ...(blocked ? { dataMigration: blocked } : {}),
  };
}

/** The shortest supported path from index a to b (exclusive of both): SLURP hops where they fit. */
function supportedPath(table: readonly GlanceRelease[], a: number, b: number): string[] {
  const via: string[] = [];
  let at = a;
  while (at < b) {
    at += at + 2 <= b && slurpHop(table, at) ? 2 : 1;
    if (at < b) via.push(table[at].release);
  }
  return via;
}

/** Why a jump is refused, with the way to get there; undefined when it is supported. */
export function jumpRefusal(
  from: GlanceRelease,
  to: GlanceRelease,
  table: readonly GlanceRelease[] = GLANCE_RELEASES,
): string | undefined {
  const jump = upgradeJump(from, to, table);
  if (jump.kind !== "unsupported") return undefined;
  const path = [from.release, ...jump.via, to.release].join(" -> ");
  const why = jump.dataMigration
    ? `skips ${jump.dataMigration}, whose data migration glance-manage of ${to.release} would never run ` +
      "(it runs only its own release's, and db check would not report it)"
    : "is not an upgrade OpenStack supports (only the next release, or from one SLURP release to " +
      `the next: ${slurpReleasesText(table)})`;
  return `${from.release} -> ${to.release} ${why}; upgrade in supported steps, one upgrade each: ${path}`;
}

function slurpReleasesText(table: readonly GlanceRelease[]): string {
  return table
    .filter((row) => row.slurp)
    .map((row) => row.release)
    .join(" -> ");
}
