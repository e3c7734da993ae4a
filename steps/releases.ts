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
}

/** Oldest first; each row is the next release after the one above it. */
export const GLANCE_RELEASES: readonly GlanceRelease[] = [
  { release: "2023.1", glanceMajor: 26, slurp: true },
  { release: "2023.2", glanceMajor: 27, slurp: false },
  { release: "2024.1", glanceMajor: 28, slurp: true },
  { release: "2024.2", glanceMajor: 29, slurp: false },
  { release: "2025.1", glanceMajor: 30, slurp: true },
  { release: "2025.2", glanceMajor: 31, slurp: false },
  { release: "2026.1", glanceMajor: 32, slurp: true },
  { release: "2026.2", glanceMajor: 33, slurp: false },
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
  /** Anything else: refused. `via` are the releases to go through, in order. */
  | { kind: "unsupported"; via: string[] };

/** What upgrading a fleet from `from` to `to` is. */
export function upgradeJump(from: GlanceRelease, to: GlanceRelease): Jump {
  const a = GLANCE_RELEASES.indexOf(from);
  const b = GLANCE_RELEASES.indexOf(to);
  if (a === b) return { kind: "same" };
  if (b < a) return { kind: "downgrade" };
  if (b === a + 1) return { kind: "next" };
  if (b === a + 2 && from.slurp && to.slurp)
    return { kind: "slurp", skipped: GLANCE_RELEASES[a + 1].release };
  return { kind: "unsupported", via: supportedPath(a, b) };
}

/** The shortest supported path from index a to b (exclusive of both): SLURP hops where they fit. */
function supportedPath(a: number, b: number): string[] {
  const via: string[] = [];
  let at = a;
  while (at < b) {
    const slurpHop = at + 2 <= b && GLANCE_RELEASES[at].slurp && GLANCE_RELEASES[at + 2].slurp;
    at += slurpHop ? 2 : 1;
    if (at < b) via.push(GLANCE_RELEASES[at].release);
  }
  return via;
}

/** Why a jump is refused, with the way to get there; undefined when it is supported. */
export function jumpRefusal(from: GlanceRelease, to: GlanceRelease): string | undefined {
  const jump = upgradeJump(from, to);
  if (jump.kind !== "unsupported") return undefined;
  const path = [from.release, ...jump.via, to.release].join(" -> ");
  return (
    `${from.release} -> ${to.release} is not an upgrade OpenStack supports (only the next release, or ` +
    `from one SLURP release to the next: ${slurpReleasesText()}); upgrade in supported steps, ` +
    `one upgrade each: ${path}`
  );
}

function slurpReleasesText(): string {
  return GLANCE_RELEASES.filter((row) => row.slurp)
    .map((row) => row.release)
    .join(" -> ");
}
