/**
 * One reading of versions for every check: a node runs the target when it reports it exactly or
 * followed by a separator (never a bare string prefix), and "older" compares numbers, not text.
 */
import { describe, expect, it } from "vitest";
import { compareVersions, isDowngrade, parseVersion, versionMatches } from "../../steps/version";

describe("versionMatches: exact or dotted prefix", () => {
  it.each([
    ["28.2.0", "28.2.0"],
    ["28.2.0-0ubuntu1~cloud0", "28.2.0"],
    ["28.2.0.post1", "28.2.0"],
    ["28.2.0+git20240101", "28.2.0"],
    ["2:28.2.0-0ubuntu1", "2:28.2.0"],
  ])("%s runs %s", (reported, target) => {
    expect(versionMatches(reported, target)).toBe(true);
  });

  it.each([
    // The finding: "2" matched 27.1.1, so old nodes passed the upgrade check and fleet/verify.
    ["27.1.1", "2"],
    ["28.2.10", "28.2.1"],
    ["28.2.01", "28.2.0"],
    ["28.2.0rc1", "28.2.0"],
    ["28.2", "28.2.0"],
    ["", "28.2.0"],
  ])("%s does not run %s", (reported, target) => {
    expect(versionMatches(reported, target)).toBe(false);
  });
});

describe("compareVersions: numbers, not text", () => {
  it.each([
    // [older, newer]
    ["27.1.1", "28.2.0"],
    ["9.0.0", "10.0.0"], // text order would say 9 > 10
    ["28.2.0", "28.2.10"],
    ["28.2.9", "28.2.10"],
    ["28.2.1.dev12", "28.2.1"], // pbr: a dev build before its release
    ["28.2.0", "28.2.1.dev12"], // ... and after the previous one
    ["29.0.0.0rc1", "29.0.0"], // pbr's release candidate
    ["29.0.0.0b1", "29.0.0.0rc1"],
    ["29.0.0a1", "29.0.0b2"],
    ["29.0.0~rc1-0ubuntu1", "29.0.0-0ubuntu1"], // Debian: ~ sorts before the release
    ["28.2.0", "28.2.0.post1"],
    ["27.1.1-0ubuntu1~cloud0", "28.2.0-0ubuntu1~cloud0"],
    ["1:30.0.0", "2:28.2.0"], // both with an epoch: the epoch decides
  ])("%s < %s", (older, newer) => {
    expect(compareVersions(older, newer)).toBe(-1);
    expect(compareVersions(newer, older)).toBe(1);
  });

  it.each([
    ["28.2.0", "28.2.0"],
    ["28.2", "28.2.0.0"],
    ["28.2.0", "28.2.0-0ubuntu1~cloud0"], // a Debian revision is the release itself
    ["2:28.2.0", "28.2.0"], // an epoch on one side only (the default versionCommand strips it)
  ])("%s = %s", (a, b) => {
    expect(compareVersions(a, b)).toBe(0);
    expect(compareVersions(b, a)).toBe(0);
  });

  it("cannot order what is not a version", () => {
    expect(parseVersion("glance 28.2.0")).toBeUndefined();
    expect(compareVersions("glance 28.2.0", "27.1.1")).toBeUndefined();
    expect(compareVersions("28.2.0", "")).toBeUndefined();
  });

  it("does not read a packaging suffix as a pre-release (-amd64 is not alpha)", () => {
    expect(parseVersion("28.2.0-amd64")?.rank).toBe(parseVersion("28.2.0")?.rank);
  });
});

describe("isDowngrade: the target older than what a node reports", () => {
  it("is the finding's case: 2023.2 (27.1.1) targeted on nodes that run 28.2.0", () => {
    expect(isDowngrade("27.1.1", "28.2.0")).toBe(true);
    expect(isDowngrade("27.1.1", "28.2.0-0ubuntu1~cloud0")).toBe(true);
    expect(isDowngrade("28.2.0", "28.2.1.dev3")).toBe(true);
  });

  it("is not an upgrade, a rerun, or a node that runs the target with a packaging suffix", () => {
    expect(isDowngrade("28.2.0", "27.1.1")).toBe(false);
    expect(isDowngrade("28.2.0", "28.2.0")).toBe(false);
    expect(isDowngrade("28.2.0", "28.2.0.post1")).toBe(false);
    expect(isDowngrade("28.2.0", "28.2.0-0ubuntu1~cloud0")).toBe(false);
    expect(isDowngrade("29.0.0", "29.0.0.0rc1")).toBe(false);
  });

  it("does not judge a version it cannot read", () => {
    expect(isDowngrade("27.1.1", "glance 28.2.0")).toBe(false);
  });
});
