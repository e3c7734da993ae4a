/**
 * The Galera hold instrument's arithmetic (lab/services/galeraHold.ts): baseline, attribution of probe
 * commits to windows, longest stall and held time. The real-cluster negative control (a slow TOI DDL
 * on db-1 read from db-2) is in test/integration/galeraLab.test.ts.
 */
import { describe, expect, it } from "vitest";
import { HELD_OVER_MS, measureHolds, probeBaseline, ProbeCommit } from "../../lab/services/galeraHold";

/** A commit every 50 ms from `from` to `to`, each taking `ms`. */
function steady(from: number, to: number, ms = 4): ProbeCommit[] {
  const out: ProbeCommit[] = [];
  for (let at = from; at < to; at += 50) out.push({ at, ms });
  return out;
}

describe("measureHolds", () => {
  it("reads a commit that waited through a window as that window's hold, and nothing in a quiet one", () => {
    const commits = [
      ...steady(0, 2_000),
      // The DDL from 2,000 to 3,200: the commit sent at 2,010 waits until 3,200.
      { at: 2_010, ms: 1_190 },
      ...steady(3_250, 6_000),
    ];
    const [quiet, ddl] = measureHolds(commits, [
      { name: "quiet", from: 500, to: 1_500 },
      { name: "ddl", from: 2_000, to: 3_200 },
    ]);
    expect(quiet).toMatchObject({ baselineMs: 4, longestStallMs: 0, heldMs: 0, heldCommits: 0, errors: 0 });
    expect(ddl).toMatchObject({
      baselineMs: 4,
      longestStallMs: 1_186,
      longestStallAt: 2_010,
      heldMs: 1_186,
      heldCommits: 1,
      commits: 1,
      committedInside: 1,
    });
  });

  it("sums only stalls over the threshold, and attributes a commit to every window it overlaps", () => {
    const commits = [
      ...steady(0, 1_000),
      { at: 1_000, ms: 4 + HELD_OVER_MS }, // exactly the threshold: not held
      { at: 1_100, ms: 4 + HELD_OVER_MS + 1 },
      { at: 1_200, ms: 304 }, // ends at 1,504, inside "b" too
      ...steady(1_550, 3_000),
    ];
    const [a, b] = measureHolds(commits, [
      { name: "a", from: 1_000, to: 1_300 },
      { name: "b", from: 1_400, to: 1_450 },
    ]);
    expect(a).toMatchObject({
      commits: 3,
      heldCommits: 2,
      heldMs: HELD_OVER_MS + 1 + 300,
      longestStallMs: 300,
    });
    // The commit sent at 1,200 ended at 1,504: after a's end, so not committed inside it.
    expect(a.committedInside).toBe(2);
    expect(b).toMatchObject({ commits: 1, committedInside: 0, longestStallMs: 300, heldMs: 300 });
  });

  it("counts a failed or unfinished write's wait, and reports it as an error", () => {
    const commits = [...steady(0, 1_000), { at: 1_000, ms: 5_004, error: "unfinished" }];
    const [w] = measureHolds(commits, [{ name: "w", from: 1_000, to: 2_000 }]);
    expect(w).toMatchObject({ errors: 1, committedInside: 0, longestStallMs: 5_000, heldMs: 5_000 });
  });

  it("takes the baseline from commits outside every window (median), or the one given", () => {
    const commits = [
      { at: 0, ms: 2 },
      { at: 50, ms: 3 },
      { at: 100, ms: 800 },
      { at: 1_000, ms: 400 }, // inside the window: not part of the baseline
      { at: 2_000, ms: 5 },
    ];
    expect(probeBaseline(commits, [{ name: "w", from: 1_000, to: 1_500 }])).toBe(4);
    const [w] = measureHolds(commits, [{ name: "w", from: 1_000, to: 1_500 }], { baselineMs: 100 });
    expect(w.longestStallMs).toBe(300);
    expect(() => probeBaseline([{ at: 1_000, ms: 3 }], [{ name: "w", from: 0, to: 2_000 }])).toThrow(
      /no probe commit outside/,
    );
  });
});
