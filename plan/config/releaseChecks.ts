/**
 * The releases the config names, against the table of releases this program knows (steps/releases.ts):
 * each release agrees with its version, and the jump from the release the fleet runs before the
 * upgrade (rollbackTo, when set) to the target is one OpenStack supports. The preflight checks the
 * jump again from what the nodes report (steps/preflight.ts), for a config without rollbackTo.
 */
import {
  GlanceRelease,
  jumpRefusal,
  knownReleasesText,
  releaseNamed,
  releaseOfVersion,
  upgradeJump,
} from "../../steps/releases";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";

interface Named {
  releaseKey: PropertyKey[];
  versionKey: PropertyKey[];
  release: string;
  version: string;
}

/** The table's row for a release and its version, or the problem that says why there is none. */
function identify(named: Named): { row?: GlanceRelease; problem?: string } {
  const byName = releaseNamed(named.release);
  const byVersion = releaseOfVersion(named.version);
  if (byName && byVersion && byName !== byVersion) {
    return {
      problem:
        `${key(named.versionKey)} = ${show(named.version)}: that is Glance ${byVersion.glanceMajor}, ` +
        `the ${byVersion.release} release, but ${key(named.releaseKey)} is ${show(named.release)} ` +
        `(Glance ${byName.glanceMajor}.x): set the version ${byName.release} installs, or the release ` +
        `name ${byVersion.release}`,
    };
  }
  const row = byName ?? byVersion;
  if (row) return { row };
  return {
    problem:
      `${key(named.releaseKey)} = ${show(named.release)} with ${key(named.versionKey)} ` +
      `${show(named.version)}: not a Glance release this program knows (${knownReleasesText()}): ` +
      "name the OpenStack release (e.g. 2025.1) and the Glance version it installs; a newer release " +
      "needs a version of this program that lists it",
  };
}

export function releaseProblems(stack: ParsedStack): string[] {
  const target = identify({
    releaseKey: ["targetRelease"],
    versionKey: ["targetVersion"],
    release: stack.targetRelease,
    version: stack.targetVersion,
  });
  if (!stack.rollbackTo) return target.problem ? [target.problem] : [];
  const before = identify({
    releaseKey: ["rollbackTo", "release"],
    versionKey: ["rollbackTo", "version"],
    release: stack.rollbackTo.release,
    version: stack.rollbackTo.version,
  });
  const problems = [target.problem, before.problem].filter((p): p is string => p !== undefined);
  if (!target.row || !before.row) return problems;
  const jump = upgradeJump(before.row, target.row);
  // The same release is a point update (28.1.0 -> 28.2.0); versionProblems checks its versions.
  if (jump.kind === "downgrade") {
    problems.push(
      `${key(["rollbackTo", "release"])} = ${show(stack.rollbackTo.release)}: rollbackTo names the ` +
        `release the fleet runs before this upgrade, and targetRelease ${show(stack.targetRelease)} ` +
        "is older: set targetRelease to the release to upgrade to, and rollbackTo to the one the " +
        "nodes run now (to go back to an older release, the README's rollback section says how)",
    );
  }
  const refusal = jumpRefusal(before.row, target.row);
  if (refusal) problems.push(`${key(["targetRelease"])} = ${show(stack.targetRelease)}: ${refusal}`);
  return problems;
}
