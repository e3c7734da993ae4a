import { describe, expect, it } from "vitest";
import { fleetWaves, wavesAfterNewNode, wavesAfterNewNodeCount } from "../../plan/waves";

describe("waves", () => {
  it("the NEW NODE's wave first, then the others in config order", () => {
    expect(fleetWaves(["a", "b", "c", "d"], "c", 2)).toEqual([
      { index: 0, nodes: ["c"] },
      { index: 1, nodes: ["a", "b"] },
      { index: 2, nodes: ["d"] },
    ]);
  });

  it("counts the waves after the NEW NODE's as the split makes them", () => {
    expect(wavesAfterNewNodeCount(2, 1)).toBe(1);
    expect(wavesAfterNewNodeCount(3, 1)).toBe(2);
    expect(wavesAfterNewNodeCount(5, 2)).toBe(2);
    expect(wavesAfterNewNodeCount(6, 2)).toBe(3);
    for (let size = 1; size <= 12; size++) {
      const names = Array.from({ length: size }, (_, i) => `node-${i + 1}`);
      for (let maxUnavailable = 1; maxUnavailable <= 4; maxUnavailable++) {
        expect(wavesAfterNewNodeCount(size, maxUnavailable)).toBe(
          wavesAfterNewNode(names, names[size - 1], maxUnavailable).length,
        );
      }
    }
  });
});
