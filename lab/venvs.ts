/**
 * The Glance virtualenvs scripts/setup-glance.sh installs, one per release, and the wheelhouses
 * scripts/setup-wheelhouse.sh builds from them (for the lab's realistic upgrade mode).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RELEASES, releaseInfo } from "./releases";

function cacheRoot(): string {
  return (
    process.env.GRU_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "glance-rolling-upgrade")
  );
}

/** Where scripts/setup-glance.sh puts a release's virtualenv. */
export function venvDir(release: string): string {
  return path.join(cacheRoot(), "glance-venvs", release);
}

/** Where scripts/setup-wheelhouse.sh puts a release's wheelhouse. */
export function wheelhouseDir(release: string): string {
  return path.join(cacheRoot(), "glance-wheelhouses", release);
}

/** A setup script's completion stamp (written last: the Glance version it holds), if there is one. */
function stamp(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The Glance version a complete wheelhouse holds (setup-wheelhouse.sh's stamp), if any. */
function wheelhouseGlanceVersion(release: string): string | undefined {
  return stamp(path.join(wheelhouseDir(release), ".gru-complete"));
}

/** Throws the operator-facing error unless the release's wheelhouse is complete; returns its directory. */
export function requireWheelhouse(release: string): string {
  const wanted = releaseInfo(release).glanceVersion;
  const got = wheelhouseGlanceVersion(release);
  if (got !== wanted) {
    throw new Error(
      `the Glance ${release} wheelhouse is ${got === undefined ? "missing or unfinished" : `for ${got}, not ${wanted}`} ` +
        `(${wheelhouseDir(release)}): run "bash scripts/setup-wheelhouse.sh ${release}" first`,
    );
  }
  return wheelhouseDir(release);
}

/** The Glance version an installed venv holds (setup-glance.sh's completion stamp), if any. */
export function installedGlanceVersion(release: string): string | undefined {
  return stamp(path.join(venvDir(release), ".gru-installed"));
}

/** Throws the operator-facing error when a release's venv is missing or holds another version. */
export function requireVenv(release: string): string {
  const wanted = releaseInfo(release).glanceVersion;
  const got = installedGlanceVersion(release);
  if (got !== wanted) {
    throw new Error(
      `the Glance ${release} virtualenv is ${got === undefined ? "missing" : `at ${got}, not ${wanted}`} ` +
        `(${venvDir(release)}): run "bash scripts/setup-glance.sh ${release}" first`,
    );
  }
  return venvDir(release);
}

/**
 * The wheelhouses a wheelhouse-mode lab links: the required releases' (else the operator-facing error),
 * and any other complete one among `releases`.
 */
export function installedWheelhouses(required: string[], releases: string[]): Record<string, string> {
  for (const release of required) requireWheelhouse(release);
  const wheelhouses: Record<string, string> = {};
  // A release without a complete wheelhouse is left out: nodes were not asked to install it.
  for (const release of releases) {
    if (wheelhouseGlanceVersion(release) === releaseInfo(release).glanceVersion)
      wheelhouses[release] = wheelhouseDir(release);
  }
  return wheelhouses;
}

/** Every release whose venv is installed at its expected version (so nodes can be switched to it). */
export function installedReleases(
  required: string[],
): Record<string, { glanceVersion: string; venv: string }> {
  for (const release of required) requireVenv(release);
  const releases: Record<string, { glanceVersion: string; venv: string }> = {};
  for (const [release, info] of Object.entries(RELEASES)) {
    if (installedGlanceVersion(release) === info.glanceVersion) {
      releases[release] = { glanceVersion: info.glanceVersion, venv: venvDir(release) };
    }
  }
  return releases;
}
