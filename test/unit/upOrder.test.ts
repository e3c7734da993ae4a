/**
 * Finding 5c: `up` sets log_bin_trust_function_creators again (to resume an unfinished chain) only
 * once the run is known to go ahead, inside the program the engine starts after it took the stack's
 * lock, so an `up` refused by another run's lock changes nothing, as it prints.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConcurrentUpdateError, Deployment, Stack, UpOptions } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfigEntries } from "../../plan/config";
import type { CommandContext } from "../../driver/commands/context";
import { up } from "../../driver/commands/up";
import type { OpenedStack } from "../../driver/stack";
import { stackConfig } from "./support/mockProgram";

const { events } = vi.hoisted(() => ({ events: [] as string[] }));

vi.mock("../../driver/mysqlSetting", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../driver/mysqlSetting")>()),
  reapplyBeforeResume: vi.fn(async () => {
    events.push("setting set to 1");
    return "log_bin_trust_function_creators set to 1 again";
  }),
  restoreAfterFailure: vi.fn(async () => "restored"),
}));

const RELEASE = "2024.1";

/** An unfinished chain whose setting the driver restored: a resume sets it again. */
const unfinished = {
  version: 3,
  deployment: {
    resources: [
      { name: "preflight", result: { trustFunctionCreatorsBefore: false } },
      { name: "db/allow-functions", result: { previous: false, changed: true } },
    ].map(({ name, result }) => ({
      urn: `urn:pulumi:prod::glance-rolling-upgrade::pulumi-nodejs:dynamic:Resource::${name}`,
      outputs: { step: name, release: RELEASE, startedAt: "2026-01-01T10:00", result },
    })),
  },
} as Deployment;

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

function context(stack: Stack): CommandContext {
  const raw = stackConfig(3);
  const entries = Object.entries(raw).map(([key, value]) => ({
    key: `glance-rolling-upgrade:${key}`,
    value: typeof value === "string" ? value : JSON.stringify(value),
    secret: false,
  }));
  entries.push({ key: "glance-rolling-upgrade:dbPassword", value: "[secret]", secret: true });
  entries.push({ key: "glance-rolling-upgrade:dbAdminPassword", value: "[secret]", secret: true });
  entries.push({ key: "glance-rolling-upgrade:sshPrivateKey", value: "[secret]", secret: true });
  const dir = mkdtempSync(path.join(tmpdir(), "gru-up-order-"));
  const config = parseConfigEntries(entries);
  return {
    options: { stack: "prod" } as CommandContext["options"],
    files: { dir, progress: path.join(dir, "progress.log"), timeline: path.join(dir, "timeline.jsonl") },
    opened: { stack, workspace: {} } as unknown as OpenedStack,
    stack,
    log: { log: () => undefined },
    config: async () => config,
    initialState: async () => unfinished,
    adminPassword: async () => "admin-pw",
  };
}

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
