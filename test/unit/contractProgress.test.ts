/**
 * Finding 4: a db contract that failed midway, or was killed (and its pending operation cleared by
 * `recover`), may have dropped part of the old schema. From then on `rollback` is refused, naming the
 * restore from the backup, and `up` says that contract failed.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildPlan } from "../../plan/plan";
import { contractProgress } from "../../driver/resume";
import { clearPendingOperations } from "../../driver/recover";
import { rollback } from "../../driver/commands/rollback";
import { up } from "../../driver/commands/up";
import { commandContextFor, parsedConfig, stateOf } from "./support/commandContext";

const { opened, failedState } = vi.hoisted(() => ({
  opened: [] as string[],
  failedState: { current: undefined as unknown },
}));

vi.mock("../../driver/stack", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/stack")>()),
  openStack: vi.fn(async () => {
    opened.push("rollback stack");
    return { stack: { up: async () => ({}) } };
  }),
}));
vi.mock("../../driver/site", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/site")>()),
  exportedState: vi.fn(async () => failedState.current),
}));
vi.mock("../../driver/mysqlSetting", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/mysqlSetting")>()),
  reapplyBeforeResume: vi.fn(async () => undefined),
  restoreAfterFailure: vi.fn(async () => "log_bin_trust_function_creators: not changed by this upgrade"),
}));

const RELEASE = "2024.1";
const config = parsedConfig({ rollbackTo: { release: "2023.2", version: "27.1.1" } });
const plan = buildPlan(config);
const ids = plan.steps.map((s) => s.id);
/** The state after every step before `last` (inclusive) finished. */
function upTo(last: string, pending: string[] = []) {
  const end = ids.indexOf(last);
  if (end < 0) throw new Error(`the plan has no step ${last}`);
  return stateOf(
    ids.slice(0, end + 1).map((name) => ({ name })),
    RELEASE,
    pending,
  );
}

const killedInContract = upTo("fleet/verify", ["db/contract"]);
const recovered = clearPendingOperations(killedInContract).cleaned;

describe("contractProgress: how far db contract got, from the state", () => {
  it("started once a run got past its prerequisites: failed, killed (pending), or pending cleared by recover", () => {
    expect(contractProgress(killedInContract, plan)).toBe("started");
    expect(contractProgress(recovered, plan)).toBe("started");
    expect(contractProgress(upTo("fleet/verify"), plan)).toBe("started");
    expect(contractProgress(upTo("db/contract"), plan)).toBe("finished");
  });

  it("a negative control: not started before fleet/verify finished, or for another release", () => {
    expect(contractProgress(upTo("node-3/admit"), plan)).toBe("not-started");
    expect(contractProgress(upTo(ids[ids.indexOf("fleet/verify") - 1]), plan)).toBe("not-started");
    expect(contractProgress(upTo("db/contract"), { ...plan, targetRelease: "2025.1" })).toBe("not-started");
  });
});

describe("rollback and up after a partial contract", () => {
  let printed: string[];
  beforeEach(() => {
    opened.length = 0;
    printed = [];
    vi.spyOn(process.stdout, "write").mockImplementation((text) => {
      printed.push(String(text));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  const stackHolding = (state: ReturnType<typeof upTo>, upError?: Error) =>
    ({
      workspace: { program: async () => ({}) },
      exportStack: async () => state,
      up: async () => {
        throw upError ?? new Error("no up expected");
      },
    }) as unknown as Stack;

  it("a kill during db/contract, then recover, then rollback: refused, naming the restore from the backup", async () => {
    const code = await rollback(commandContextFor(stackHolding(recovered), config, recovered));
    expect(code).not.toBe(0);
    expect(opened).toEqual([]);
    const out = printed.join("");
    expect(out).toContain("refused: db contract for 2024.1 started and did not finish");
    expect(out).toContain("Restore the pre-upgrade backup");
  });

  it("a negative control: before contract, rollback goes ahead", async () => {
    const before = upTo("node-3/admit");
    const code = await rollback(commandContextFor(stackHolding(before), config, before));
    expect(code).toBe(0);
    expect(opened).toEqual(["rollback stack"]);
  });

  it("up says that contract failed, not that it did not run, when db/contract is the failed step", async () => {
    failedState.current = upTo("fleet/verify");
    const failed = stackHolding(upTo("fleet/verify"), new Error("db/contract: exit code 1"));
    const code = await up(commandContextFor(failed, config, upTo("fleet/verify")));
    expect(code).not.toBe(0);
    const out = printed.join("");
    expect(out).toContain("db contract for 2024.1 started and did not finish");
    expect(out).toContain("`rollback` is refused from here");
    expect(out).not.toContain("db contract did not run");
  });

  it("a negative control: a failure before contract still says contract did not run", async () => {
    failedState.current = upTo("node-2/drain");
    const failed = stackHolding(upTo("node-2/drain"), new Error("node-3/drain: timeout"));
    await up(commandContextFor(failed, config, upTo("node-2/drain")));
    expect(printed.join("")).toContain("db contract did not run");
  });
});
