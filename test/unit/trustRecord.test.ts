/**
 * I7: log_bin_trust_function_creators is restored to the value it had before the release's chain
 * changed it, taken from the preflight's record in the state, never from a read made after a change.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Deployment } from "@pulumi/pulumi/automation";
import { afterEach, describe, expect, it } from "vitest";
import { settingRecord } from "../../driver/mysqlSetting";
import { earlierResult } from "../../steps/earlierResult";
import { recordedTrustBefore, trustBefore, trustRestore } from "../../steps/db/trustRecord";
import { mockStepResults, runMockProgram, stackConfig } from "./support/mockProgram";

const RELEASE = "2024.1";
const urn = (name: string) =>
  `urn:pulumi:prod::glance-rolling-upgrade::glance:upgrade:RollingUpgrade$pulumi-nodejs:dynamic:Resource::${name}`;

function state(
  steps: Array<{ name: string; startedAt: string; result: Record<string, unknown> }>,
  pending: string[] = [],
): Deployment {
  return {
    version: 3,
    deployment: {
      resources: steps.map(({ name, startedAt, result }) => ({
        urn: urn(name),
        outputs: { step: name, release: RELEASE, startedAt, result },
      })),
      pending_operations: pending.map((name) => ({ resource: { urn: urn(name) }, type: "creating" })),
    },
  } as Deployment;
}

/** What the first run recorded: preflight read 0, allow-functions set 1. */
const preflight = {
  name: "preflight",
  startedAt: "2026-01-01T10:00",
  result: { trustFunctionCreators: false, trustFunctionCreatorsBefore: false },
};
/** db/allow-functions run again after the driver set 1 to resume (finding 5a), or after a kill (5b). */
const allowAgain = {
  name: "db/allow-functions",
  startedAt: "2026-01-01T12:00",
  result: { previous: true, changed: false },
};

describe("the preflight's record of log_bin_trust_function_creators", () => {
  it("is the preflight's own read on its first run, and kept from the earlier run of the same release", () => {
    expect(trustBefore(false, undefined)).toBe(false);
    expect(trustBefore(true, undefined)).toBe(true);
    expect(trustBefore(true, { trustFunctionCreatorsBefore: false, trustFunctionCreators: true })).toBe(
      false,
    );
    // An earlier preflight written before the record existed: its own read, taken before any change.
    expect(trustBefore(true, { trustFunctionCreators: false })).toBe(false);
    expect(trustBefore(false, { versionsBefore: "{}" })).toBe(false);
  });

  it("reaches a re-run only from the same step and release (the provider update's old outputs)", () => {
    const olds = { step: "preflight", release: RELEASE, result: { trustFunctionCreatorsBefore: false } };
    expect(earlierResult(olds, { step: "preflight", release: RELEASE })).toEqual(olds.result);
    expect(earlierResult(olds, { step: "preflight", release: "2025.1" })).toBeUndefined();
    expect(earlierResult({ ...olds, result: null }, { step: "preflight", release: RELEASE })).toBeUndefined();
  });

  it("reads absent from a preflight result written before it existed", () => {
    expect(recordedTrustBefore({ trustFunctionCreators: false })).toBeUndefined();
    expect(recordedTrustBefore({ trustFunctionCreatorsBefore: false })).toBe(false);
    expect(recordedTrustBefore(null)).toBeUndefined();
  });
});

describe("what restore-setting restores", () => {
  it.each([
    // before, allow-functions' read, allow changed it, admin configured -> previous, changed
    [false, false, true, true, false, true],
    [false, true, false, true, false, true], // 5a/5b: allow-functions re-ran and read the upgrade's 1
    [true, true, false, true, true, false], // 1 before the upgrade: nothing to restore
    [false, false, false, true, false, false], // not needed (no binlog, or SUPER)
    [false, true, false, false, false, false], // no admin: the chain cannot have set it
  ])("before %s, allow read %s (changed %s), admin %s -> restore %s (changed %s)", (...row) => {
    const [before, previous, changed, adminConfigured, wantPrevious, wantChanged] = row;
    expect(trustRestore({ before, allow: { previous, changed }, adminConfigured })).toEqual({
      previous: wantPrevious,
      changed: wantChanged,
      from: "preflight",
    });
  });

  it("falls back to allow-functions' read (the behaviour before the record) for an older preflight", () => {
    expect(
      trustRestore({ before: undefined, allow: { previous: true, changed: false }, adminConfigured: true }),
    ).toEqual({ previous: true, changed: false, from: "allow-functions" });
  });
});

describe("the driver's record after finding 5's paths", () => {
  it("5a: allow-functions ran again and read 1; the driver restores 0, the preflight's record", () => {
    const record = settingRecord(state([preflight, allowAgain]), true);
    expect(record).toMatchObject({ release: RELEASE, previous: false, changed: true, allowed: true });
    expect(record?.from).toBe("preflight");
  });

  it("5b: killed between SET GLOBAL and the state write (allow-functions pending, not recorded): restore 0", () => {
    const record = settingRecord(state([preflight], ["db/allow-functions"]), true);
    expect(record).toEqual({
      release: RELEASE,
      previous: false,
      changed: true,
      restored: false,
      allowed: false,
      from: "preflight",
    });
    // Nothing to set again before resuming: allow-functions itself runs again.
    expect(record?.allowed).toBe(false);
    // A failed (not killed) allow-functions set nothing: nothing to restore.
    expect(settingRecord(state([preflight]), true)).toBeUndefined();
  });

  it("a negative control: 1 before the upgrade, or no admin credential, is never 'changed'", () => {
    const wasOn = { ...preflight, result: { trustFunctionCreatorsBefore: true } };
    expect(settingRecord(state([wasOn, allowAgain]), true)).toMatchObject({ previous: true, changed: false });
    expect(settingRecord(state([wasOn], ["db/allow-functions"]), true)?.changed).toBe(false);
    expect(settingRecord(state([preflight, allowAgain]), false)?.changed).toBe(false);
  });

  it("a state written before the record: today's behaviour, from allow-functions, and it says so", () => {
    const old = { ...preflight, result: { trustFunctionCreators: false } };
    expect(settingRecord(state([old, allowAgain]), true)).toMatchObject({
      previous: true,
      changed: false,
      from: "allow-functions",
    });
    expect(settingRecord(state([old]), true)).toBeUndefined();
  });
});

describe("the driver's record read from a state the engine wrote", () => {
  const fixture = path.join(__dirname, "..", "e2e", "fixtures", "identity-state", "checkpoint.json");
  const engineState = () => JSON.parse(fs.readFileSync(fixture, "utf8")) as Deployment;

  it("finds the preflight step, not the `preflight` component that comes before it in the state", () => {
    const resources = (engineState().deployment as { resources: Array<{ urn: string; type: string }> })
      .resources;
    const named = resources.filter((r) => r.urn.endsWith("::preflight")).map((r) => r.type);
    expect(named).toEqual(["glance:upgrade:Preflight", "pulumi-nodejs:dynamic:Resource"]);
    expect(settingRecord(engineState(), true)).toMatchObject({
      from: "preflight",
      previous: false,
      changed: true,
    });
  });

  it("a negative control: the same state without the preflight step's record falls back to allow-functions", () => {
    const state = engineState();
    const body = state.deployment as { resources: Array<{ urn: string; type: string }> };
    body.resources = body.resources.filter(
      (r) => !(r.urn.endsWith("::preflight") && r.type === "pulumi-nodejs:dynamic:Resource"),
    );
    expect(settingRecord(state, true)?.from).toBe("allow-functions");
  });
});

describe("the program's restore-setting request (real program, mocked engine)", () => {
  afterEach(() => mockStepResults.clear());

  it("5a: allow-functions re-ran and read 1; restore-setting is asked to restore 0", async () => {
    mockStepResults.set("preflight", preflight.result);
    mockStepResults.set("db/allow-functions", allowAgain.result);
    const { registrations } = await runMockProgram(stackConfig(3), {
      dbPassword: "secret",
      dbAdminPassword: "secret",
    });
    const restore = registrations.find((r) => r.name === "db/restore-setting");
    expect(restore?.inputs?.request).toMatchObject({
      kind: "restore-setting",
      previous: false,
      changed: true,
    });
  });

  it("an older preflight result: restore-setting keeps allow-functions' values, as before", async () => {
    mockStepResults.set("preflight", { trustFunctionCreators: false });
    mockStepResults.set("db/allow-functions", { previous: false, changed: true });
    const { registrations } = await runMockProgram(stackConfig(3), {
      dbPassword: "secret",
      dbAdminPassword: "secret",
    });
    const restore = registrations.find((r) => r.name === "db/restore-setting");
    expect(restore?.inputs?.request).toMatchObject({ previous: false, changed: true });
  });
});
