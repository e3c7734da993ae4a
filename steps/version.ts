/**
 * Glance versions as nodes report them (versionCommand's last line) and as the config names them:
 * PyPI/pbr versions (27.1.1, 28.2.1.dev12, 29.0.0.0rc1) and Debian/Ubuntu package versions with the
 * epoch stripped or not (28.2.0-0ubuntu1~cloud0, 2:28.2.0-0ubuntu1). One module for every check, so
 * the upgrade's version check, fleet/verify, the config's cross-checks and the preflight's downgrade
 * refusal agree on what "runs version X" and "older than" mean.
 */

/**
 * A node runs `target` when it reports exactly `target`, or `target` followed by a separator and
 * more (28.2.0 matches 28.2.0-0ubuntu1~cloud0 and 28.2.0.post1): a dotted prefix, never a bare
 * string prefix (2 does not match 27.1.1, 28.2.0 does not match 28.2.01).
 */
export function versionMatches(reported: string, target: string): boolean {
  if (!reported.startsWith(target)) return false;
  const next = reported.charAt(target.length);
  return next === "" || !/[A-Za-z0-9]/.test(next);
}

/** The shell `case` patterns of versionMatches for a target held in "$VAR" (bash). */
export function versionCasePattern(variable: string): string {
  return `"$${variable}"|"$${variable}"[!A-Za-z0-9]*`;
}

/** Pre-release kinds in PEP 440 order; a final release ranks above them, a post-release above it. */
const PRE_RELEASE_RANK: Record<string, number> = {
  dev: 0,
  a: 1,
  alpha: 1,
  b: 2,
  beta: 2,
  c: 3,
  rc: 3,
  pre: 3,
  preview: 3,
};
const FINAL_RANK = 4;
const POST_RANK = 5;

export interface ParsedVersion {
  epoch?: number;
  /** The dotted numbers: 28.2.0 -> [28, 2, 0]. */
  release: number[];
  /** dev < alpha < beta < rc < final < post, and the number after it (rc2 -> 2). */
  rank: number;
  rankNumber: number;
}

/**
 * Reads a version, or undefined when it does not start with a number (a versionCommand that prints
 * something else: nothing can be said about its order). A Debian revision (-0ubuntu1) counts as the
 * final release; `~` (Debian) and a/b/rc/dev (PEP 440, pbr) mark a release before the final one.
 */
export function parseVersion(text: string): ParsedVersion | undefined {
  const match = /^(?:(\d+):)?(\d+(?:\.\d+)*)(.*)$/.exec(text.trim());
  if (!match) return undefined;
  const [, epoch, release, rest] = match;
  const pre = /^[~.-]?(dev|alpha|a|beta|b|rc|c|preview|pre)(?![a-z])\.?(\d*)/i.exec(rest);
  const post = /^[.-]?(post|rev|r)(?![a-z])\.?(\d*)/i.exec(rest);
  let rank = FINAL_RANK;
  let rankNumber = 0;
  if (pre) {
    rank = PRE_RELEASE_RANK[pre[1].toLowerCase()];
    rankNumber = Number(pre[2] || 0);
  } else if (rest.startsWith("~")) {
    rank = PRE_RELEASE_RANK.pre;
  } else if (post) {
    rank = POST_RANK;
    rankNumber = Number(post[2] || 0);
  }
  return {
    ...(epoch === undefined ? {} : { epoch: Number(epoch) }),
    release: release.split(".").map(Number),
    rank,
    rankNumber,
  };
}

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * -1, 0 or 1 as `a` is older than, the same release as, or newer than `b`; undefined when either is
 * not a version. Epochs count only when both carry one (the default versionCommand strips it);
 * missing trailing numbers are zeros (28.2 = 28.2.0 = 28.2.0.0).
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return undefined;
  if (x.epoch !== undefined && y.epoch !== undefined && x.epoch !== y.epoch) return sign(x.epoch - y.epoch);
  const length = Math.max(x.release.length, y.release.length);
  for (let i = 0; i < length; i++) {
    const diff = (x.release[i] ?? 0) - (y.release[i] ?? 0);
    if (diff !== 0) return sign(diff);
  }
  if (x.rank !== y.rank) return sign(x.rank - y.rank);
  return sign(x.rankNumber - y.rankNumber);
}

/**
 * Whether installing `target` on a node that reports `reported` would take it back to an older
 * release. A node that already runs the target (versionMatches) is not a downgrade, whatever its
 * packaging suffix says; a version that cannot be read is not judged.
 */
export function isDowngrade(target: string, reported: string): boolean {
  if (versionMatches(reported, target)) return false;
  return compareVersions(target, reported) === -1;
}
