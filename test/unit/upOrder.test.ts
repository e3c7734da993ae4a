/**
 * Finding 5c: `up` sets log_bin_trust_function_creators again (to resume an unfinished chain) only
 * once the run is known to go ahead, inside the program the engine starts after it took the stack's
 * lock, so an `up` refused by another run's lock changes nothing, as it prints.
 */
import { ConcurrentUpdateError, Stack, UpOptions } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { up } from "../../driver/commands/up";
import { commandContextFor, parsedConfig, stateOf } from "./support/commandContext";

const { events } = vi.hoisted(() => ({ events: [] as string[] }));

vi.mock("../../driver/mysqlSetting", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/mysqlSetting")>()),
  reapplyBeforeResume: vi.fn(async () => {
    events.push("setting set to 1");
    return "log_bin_trust_function_creators set to 1 again";
  }),
  restoreAfterFailure: vi.fn(async () => "restored"),
}));

/** An unfinished chain whose setting the driver restored: a resume sets it again. */
const unfinished = stateOf(
  [
    { name: "preflight", result: { trustFunctionCreatorsBefore: false } },
    { name: "db/allow-functions", result: { previous: false, changed: true } },
  ],
  "2024.1",
);

function lockRefusal(): ConcurrentUpdateError {
  const refusal = Object.create(ConcurrentUpdateError.prototype) as ConcurrentUpdateError;
  Object.defineProperty(refusal, "message", {
    value: "error: the stack is currently locked by 1 lock(s)\n  ...: created by root@other (pid 42) at now",
  });
  return refusal;
}

/** A stack whose engine takes the lock (or is refused it), then runs the program it was given. */
function fakeStack(lockFree: boolean): Stack {
  const workspace = { program: async () => ({ ran: events.push("program") }) };
  return {
    workspace,
    up: async (opts: UpOptions) => {
      if (!lockFree) throw lockRefusal();
      events.push("lock taken");
      await opts.program?.();
      return { stdout: "", stderr: "", summary: { result: "succeeded" }, outputs: {} };
    },
  } as unknown as Stack;
}

const context = (stack: Stack) => commandContextFor(stack, parsedConfig(), unfinished);

describe("up: the MySQL setting is touched only once the run holds the stack's lock", () => {
  let printed: string[];
  beforeEach(() => {
    events.length = 0;
    printed = [];
    vi.spyOn(process.stdout, "write").mockImplementation((text) => {
      printed.push(String(text));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("a refused up changes nothing: the setting is never set, and it says so", async () => {
    const code = await up(context(fakeStack(false)));
    expect(code).not.toBe(0);
    expect(printed.join("")).toContain("changed nothing (no step ran, no setting was touched)");
    expect(events).toEqual([]);
  });

  it("a negative control: an up that takes the lock sets it, after the lock and before the program", async () => {
    const code = await up(context(fakeStack(true)));
    expect(code).toBe(0);
    expect(events).toEqual(["lock taken", "setting set to 1", "program"]);
  });
});
