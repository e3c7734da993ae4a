/**
 * A failed `up` prints that run's steps from the records the driver folded from the steps' events,
 * the failed one with its reason; a subscriber to the run's progress (a live view) sees the same
 * events as they come.
 */
import { appendFileSync } from "node:fs";
import type { Stack } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { up } from "../../driver/commands/up";
import type { StepEvent } from "../../steps/progress";
import { commandContextFor, parsedConfig, stateOf } from "./support/commandContext";

vi.mock("../../driver/site", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/site")>()),
  exportedState: vi.fn(async () => stateOf([], "2024.1")),
}));
vi.mock("../../driver/mysqlSetting", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/mysqlSetting")>()),
  reapplyBeforeResume: vi.fn(async () => undefined),
  restoreAfterFailure: vi.fn(async () => "log_bin_trust_function_creators: not changed by this upgrade"),
}));

const config = parsedConfig();
const meta = { step: "node-2/drain", kind: "drain", node: "node-2", release: "2024.1" };

/** A stack whose up writes `events` to the run's progress file, as the provider does, then fails. */
function failingStack(progressFile: () => string, events: StepEvent[]): Stack {
  return {
    workspace: { program: async () => ({}) },
    exportStack: async () => stateOf([], "2024.1"),
    up: async () => {
      for (const event of events)
        appendFileSync(
          progressFile(),
          `${JSON.stringify({ ...event, message: `[${event.step}] ${event.event}` })}\n`,
        );
      throw new Error("node-2/drain: drain of node-2 did not finish within 30 s");
    },
  } as unknown as Stack;
}

describe("a failed up's own records", () => {
  let printed: string[];
  beforeEach(() => {
    printed = [];
    vi.spyOn(process.stdout, "write").mockImplementation((text) => {
      printed.push(String(text));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("the failed step's reason in the step table after `up FAILED`; a subscriber saw every event", async () => {
    let file = "";
    const stack = failingStack(
      () => file,
      [
        { event: "start", ...meta, at: "2026-11-26T10:00:00.000Z" },
        { event: "progress", ...meta, at: "2026-11-26T10:00:01.000Z" },
        {
          event: "fail",
          ...meta,
          at: "2026-11-26T10:00:30.000Z",
          seconds: 30,
          error: "drain of node-2 did not finish within 30 s",
          reason: "DrainTimeout",
        },
      ],
    );
    const context = commandContextFor(stack, config, stateOf([], "2024.1"));
    file = context.files.progress;
    const seen: string[] = [];
    context.progress.subscribe((event, record) =>
      seen.push(`${event.step} ${event.event} ${record?.status}`),
    );

    expect(await up(context)).not.toBe(0);
    const out = printed.join("");
    const afterFailure = out.slice(out.indexOf("up FAILED"));
    expect(afterFailure).toContain("Steps (in the order they ran):");
    expect(afterFailure).toContain(
      "  node-2/drain             10:00:00    30.0 s  FAILED reason=DrainTimeout",
    );
    expect(out).toContain("  [node-2/drain] fail");
    expect(seen).toEqual([
      "node-2/drain start running",
      "node-2/drain progress running",
      "node-2/drain fail failed",
    ]);
    expect(context.progress.records.get("node-2/drain")?.failure).toEqual({
      reason: "DrainTimeout",
      message: "drain of node-2 did not finish within 30 s",
    });
  });

  it("a negative control: a failure before any step failed (no fail event) prints no step table", async () => {
    let file = "";
    const stack = failingStack(() => file, [{ event: "start", ...meta, at: "2026-11-26T10:00:00.000Z" }]);
    const context = commandContextFor(stack, config, stateOf([], "2024.1"));
    file = context.files.progress;
    expect(await up(context)).not.toBe(0);
    expect(printed.join("")).toContain("up FAILED");
    expect(printed.join("")).not.toContain("Steps (in the order they ran):");
  });
});
