/**
 * Issue 34, item 3: which upgrades are supported is product data (steps/releases.ts), read by the
 * config check and the preflight. OpenStack supports the next release, and SLURP to SLURP.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { releaseJumpProblems } from "../../steps/preflight";
import {
  GLANCE_RELEASES,
  jumpRefusal,
  releaseNamed,
  releaseOfVersion,
  upgradeJump,
} from "../../steps/releases";

const row = (release: string) => {
  const found = releaseNamed(release);
  if (!found) throw new Error(`no row ${release}`);
  return found;
};

describe("the release table", () => {
  it("is in order: one Glance major version per release, each the next", () => {
    GLANCE_RELEASES.forEach((r, i) => {
      if (i > 0) expect(r.glanceMajor).toBe(GLANCE_RELEASES[i - 1].glanceMajor + 1);
    });
    // SLURP releases are the .1 releases of this range.
    expect(GLANCE_RELEASES.filter((r) => r.slurp).map((r) => r.release)).toEqual([
      "2023.1",
      "2024.1",
      "2025.1",
      "2026.1",
    ]);
  });

  it("reads a release from the versions nodes report, packaged or not", () => {
    expect(releaseOfVersion("28.2.0")?.release).toBe("2024.1");
    expect(releaseOfVersion("2:30.2.0-0ubuntu1~cloud0")?.release).toBe("2025.1");
    expect(releaseOfVersion("32.0.0.0rc1")?.release).toBe("2026.1");
    expect(releaseOfVersion("25.1.0")).toBeUndefined();
    expect(releaseOfVersion("glance-api")).toBeUndefined();
  });
});

describe("the jumps between releases", () => {
  // One case per kind of jump, with the reason it is what it is.
  const cases: Array<[string, string, ReturnType<typeof upgradeJump>["kind"]]> = [
    ["2024.1", "2024.1", "same"], // a point update within a release
    ["2023.2", "2024.1", "next"], // neighbours
    ["2024.1", "2024.2", "next"], // neighbours, from a SLURP release
    ["2024.1", "2025.1", "slurp"], // SLURP to the next SLURP, skipping 2024.2
    ["2025.1", "2026.1", "slurp"], // the upgrade most operators face now
    ["2023.2", "2024.2", "unsupported"], // a skip from a release that is not SLURP
    ["2024.2", "2025.2", "unsupported"], // neither end is SLURP
    ["2023.1", "2025.1", "unsupported"], // SLURP to the SLURP after next: two skips
    ["2025.1", "2024.1", "downgrade"], // older: rollback's job, never up's
  ];
  it.each(cases)("%s -> %s is %s", (from, to, kind) => {
    expect(upgradeJump(row(from), row(to)).kind).toBe(kind);
    expect(jumpRefusal(row(from), row(to)) !== undefined).toBe(kind === "unsupported");
  });

  it("a refused jump names the shortest supported way, every hop of which is supported", () => {
    const index = fc.integer({ min: 0, max: GLANCE_RELEASES.length - 1 });
    let refused = 0;
    fc.assert(
      fc.property(index, index, (a, b) => {
        const jump = upgradeJump(GLANCE_RELEASES[a], GLANCE_RELEASES[b]);
        if (jump.kind !== "unsupported") return;
        refused++;
        const path = [GLANCE_RELEASES[a].release, ...jump.via, GLANCE_RELEASES[b].release].map(row);
        for (let i = 1; i < path.length; i++) {
          expect(["next", "slurp"]).toContain(upgradeJump(path[i - 1], path[i]).kind);
        }
        // Shortest: no hop can be merged with the next into one supported jump.
        for (let i = 2; i < path.length; i++) {
          expect(["next", "slurp"]).not.toContain(upgradeJump(path[i - 2], path[i]).kind);
        }
      }),
      { numRuns: 200 },
    );
    expect(refused).toBeGreaterThan(0);
  });
});

describe("a release whose data migration moves rows (none in 2023.1-2026.2)", () => {
  // glance-manage runs only its own release's data migrations: a skip over one would skip it.
  const table = GLANCE_RELEASES.map((r) => (r.release === "2024.2" ? { ...r, dataMigration: true } : r));
  const at = (release: string) => table.find((r) => r.release === release) ?? row(release);

  it("cannot be skipped, even SLURP to SLURP: the refusal says why and goes through it", () => {
    expect(upgradeJump(at("2024.1"), at("2025.1"), table).kind).toBe("unsupported");
    expect(jumpRefusal(at("2024.1"), at("2025.1"), table)).toBe(
      "2024.1 -> 2025.1 skips 2024.2, whose data migration glance-manage of 2025.1 would never run (it runs only its own release's, and db check would not report it); upgrade in supported steps, one upgrade each: 2024.1 -> 2024.2 -> 2025.1",
    );
    // The next SLURP hop, clear of it, stays supported; the real table skips 2024.2.
    expect(upgradeJump(at("2025.1"), at("2026.1"), table).kind).toBe("slurp");
    expect(upgradeJump(row("2024.1"), row("2025.1")).kind).toBe("slurp");
  });

  it("routes longer jumps through it", () => {
    expect(upgradeJump(at("2023.1"), at("2025.1"), table)).toMatchObject({ via: ["2024.1", "2024.2"] });
    expect(upgradeJump(row("2023.1"), row("2025.1"))).toMatchObject({ via: ["2024.1"] });
  });
});

describe("the preflight's check of what the nodes report", () => {
  const target = { release: "2026.1", version: "32.0.0" };

  it("passes SLURP to SLURP, and a node already on the target (a resumed run)", () => {
    expect(releaseJumpProblems(target, { "node-1": "30.2.0", "node-2": "32.0.0" })).toEqual([]);
  });

  it("refuses each node whose release is too far back, naming it and the way there", () => {
    expect(releaseJumpProblems(target, { "node-1": "30.2.0", "node-2": "29.2.1" })).toEqual([
      "node-2 reports 29.2.1 (2024.2): 2024.2 -> 2026.1 is not an upgrade OpenStack supports (only the next release, or from one SLURP release to the next: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1); upgrade in supported steps, one upgrade each: 2024.2 -> 2025.1 -> 2026.1",
    ]);
  });

  it("refuses a node of a Glance it does not know; leaves an unreadable version to other checks", () => {
    expect(releaseJumpProblems(target, { "node-1": "25.1.0", "node-2": "unknown" })).toEqual([
      expect.stringContaining("node-1 reports 25.1.0, a Glance release this program does not know"),
    ]);
  });
});
