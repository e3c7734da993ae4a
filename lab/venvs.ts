/** The Glance virtualenvs scripts/setup-glance.sh installs, one per release. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RELEASES, releaseInfo } from "./releases";

/** Where scripts/setup-glance.sh puts a release's virtualenv. */
export function venvDir(release: string): string {
  const cacheRoot =
    process.env.GRU_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "glance-rolling-upgrade");
  return path.join(cacheRoot, "glance-venvs", release);
}

/** The Glance version an installed venv holds (setup-glance.sh's completion stamp), if any. */
export function installedGlanceVersion(release: string): string | undefined {
  try {
    return fs.readFileSync(path.join(venvDir(release), ".gru-installed"), "utf8").trim();
  } catch {
    return undefined;
  }
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
