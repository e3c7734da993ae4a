import { describe, expect, it } from "vitest";
import { earlyRead } from "../../driver/site";

describe("earlyRead: a CLI read started before the stack is opened", () => {
  it("runs once, at once, and gives the same answer to every caller", async () => {
    let runs = 0;
    const read = earlyRead(async () => ++runs);
    expect(runs).toBe(1);
    expect(await read()).toBe(1);
    expect(await read()).toBe(1);
    expect(runs).toBe(1);
  });

  it("runs again when first used if it failed early (a new stack exists only once opened)", async () => {
    let runs = 0;
    const read = earlyRead(async () => {
      runs++;
      if (runs === 1) throw new Error("no stack named 'prod' found");
      return "config";
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await read()).toBe("config");
    expect(await read()).toBe("config");
    expect(runs).toBe(2);
  });

  it("reports the second run's error, and raises no unhandled rejection for the first", async () => {
    let runs = 0;
    const read = earlyRead(async () => {
      runs++;
      throw new Error(`failure ${runs}`);
    });
    await new Promise((resolve) => setImmediate(resolve));
    await expect(read()).rejects.toThrow("failure 2");
  });
});
