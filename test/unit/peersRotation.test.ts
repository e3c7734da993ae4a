/**
 * The peers bench's out-of-rotation measure (bench/peers/rotation.ts): intervals from a polled series
 * of HAProxy states, which statuses take traffic, polls that missed the server, and a server still
 * out at the last poll.
 */
import { describe, expect, it } from "vitest";
import { firstSeen, RotationSample, serverRotation, takesTraffic } from "../../bench/peers/rotation";

/** One sample per entry, 100 ms apart from t=1000: each entry is node-1's status (and sessions). */
function series(states: Array<string | [string, number] | undefined>): RotationSample[] {
  return states.map((state, i): RotationSample => ({
    at: 1_000 + i * 100,
    servers:
      state === undefined
        ? {}
        : {
            "node-1":
              typeof state === "string" ? { status: state, scur: 0 } : { status: state[0], scur: state[1] },
          },
  }));
}

describe("takesTraffic", () => {
  it("counts UP and a server failing its checks but not yet down as in rotation", () => {
    expect(takesTraffic("UP")).toBe(true);
    expect(takesTraffic("UP 1/2")).toBe(true);
    expect(takesTraffic("no check")).toBe(true);
  });
  it("counts DRAIN, MAINT, DOWN and a server still rising as out", () => {
    for (const status of ["DRAIN", "MAINT", "DOWN", "DOWN 1/2", "NOLB", "MAINT (resolution)"])
      expect(takesTraffic(status)).toBe(false);
  });
});

describe("serverRotation", () => {
  it("is zero for a server that never left", () => {
    const r = serverRotation(series(["UP", "UP", "UP"]), "node-1");
    expect(r).toMatchObject({ totalMs: 0, intervals: [], sawDrain: false, drainedWithSessions: false });
  });

  it("measures from the first poll out to the first poll back, with the statuses in order", () => {
    const r = serverRotation(
      series(["UP", ["DRAIN", 2], ["DRAIN", 0], "MAINT", "MAINT", "UP", "UP"]),
      "node-1",
    );
    expect(r.intervals).toEqual([{ from: 1_100, to: 1_500, statuses: ["DRAIN", "MAINT"] }]);
    expect(r.totalMs).toBe(400);
    expect(r.sawDrain).toBe(true);
    expect(r.drainedWithSessions).toBe(true);
  });

  it("adds up several stretches (a node stopped without a drain, seen DOWN by the checks)", () => {
    const r = serverRotation(series(["UP", "UP 1/2", "DOWN", "DOWN 1/2", "UP", "DOWN", "UP"]), "node-1");
    expect(r.intervals.map((i) => [i.from, i.to])).toEqual([
      [1_200, 1_400],
      [1_500, 1_600],
    ]);
    expect(r.totalMs).toBe(300);
    expect(r.sawDrain).toBe(false);
  });

  it("skips polls that missed the server and counts a server still out up to the last poll", () => {
    const r = serverRotation(series(["UP", "MAINT", undefined, "MAINT", undefined]), "node-1");
    expect(r.intervals).toEqual([{ from: 1_100, to: 1_300, statuses: ["MAINT"] }]);
  });

  it("sorts the samples first, and says when a drain had no session to wait for", () => {
    const r = serverRotation(series(["UP", "DRAIN", "MAINT", "UP"]).reverse(), "node-1");
    expect(r.totalMs).toBe(200);
    expect(r.drainedWithSessions).toBe(false);
  });

  it("is zero for a server no poll saw", () => {
    expect(serverRotation(series(["UP"]), "node-9").totalMs).toBe(0);
  });
});

describe("firstSeen", () => {
  it("finds the first poll at or after a moment with a status", () => {
    const s = series(["UP", "DRAIN", "MAINT", "UP", "MAINT"]);
    expect(firstSeen(s, "node-1", "MAINT")).toBe(1_200);
    expect(firstSeen(s, "node-1", "MAINT", 1_250)).toBe(1_400);
    expect(firstSeen(s, "node-1", "DOWN")).toBeUndefined();
  });
});
