/**
 * Finding 5b through `recover`: a run killed inside db/allow-functions (between its SET GLOBAL and
 * the state write) leaves its create pending; recover reads the setting's record before it clears
 * that, so it puts back the preflight's value.
 */
import type { Deployment, Stack } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { recover } from "../../driver/commands/recover";
import type { SettingRecord } from "../../driver/mysqlSetting";
import { commandContextFor, parsedConfig, stateOf } from "./support/commandContext";

const { restored } = vi.hoisted(() => ({ restored: [] as Array<SettingRecord | undefined> }));

vi.mock("../../driver/mysqlSetting", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/mysqlSetting")>()),
  restoreAfterFailure: vi.fn(async (record: SettingRecord | undefined) => {
    restored.push(record);
    return "restored";
  }),
}));

const preflight = { name: "preflight", result: { trustFunctionCreatorsBefore: false } };

function stackHolding(state: Deployment): { stack: Stack; imported: Deployment[] } {
  const imported: Deployment[] = [];
  const stack = {
    exportStack: async () => state,
    importStack: async (cleaned: Deployment) => {
      imported.push(cleaned);
    },
  } as unknown as Stack;
  return { stack, imported };
}

describe("recover after a run killed inside db/allow-functions", () => {
  beforeEach(() => {
    restored.length = 0;
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  const run = async (state: Deployment) => {
    const { stack, imported } = stackHolding(state);
    const context = commandContextFor(stack, parsedConfig(), state);
    context.opened.env = { PULUMI_BACKEND_URL: "s3://bucket" };
    expect(await recover(context)).toBe(0);
    return imported;
  };

  it("restores the preflight's value: the record is read before the pending create is cleared", async () => {
    const imported = await run(stateOf([preflight], "2024.1", ["db/allow-functions"]));
    expect(imported).toHaveLength(1);
    expect(restored).toEqual([expect.objectContaining({ previous: false, changed: true, allowed: false })]);
  });

  it("a negative control: nothing pending, nothing changed", async () => {
    await run(stateOf([preflight], "2024.1"));
    expect(restored).toEqual([undefined]);
  });
});
