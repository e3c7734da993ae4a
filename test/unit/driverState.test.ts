import type { Deployment } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { settingRecord } from "../../driver/mysqlSetting";
import { spawn } from "node:child_process";
import { clearPendingOperations, launchInFlightAdvice, processAlive } from "../../driver/recover";
import { finishedSteps, stepRecords, urnName } from "../../driver/state";

const urn = (name: string, type = "pulumi-nodejs:dynamic:Resource") =>
  `urn:pulumi:prod::glance-rolling-upgrade::glance:db:DbMigration$${type}::${name}`;

function state(
  resources: Array<{ urn: string; outputs?: Record<string, unknown> }>,
  pending: unknown[] = [],
) {
  return {
    version: 3,
    deployment: { resources, pending_operations: pending, manifest: { time: "t" } },
  } as Deployment;
}

describe("the driver's state reader", () => {
  it("reads every resource as a typed record: its name, the step and release it recorded", () => {
    const records = stepRecords(
      state([
        { urn: urn("db", "glance:db:DbMigration") },
        { urn: urn("db/expand", "command:remote:Command"), outputs: { stdout: "ok" } },
        {
          urn: urn("db/allow-functions"),
          outputs: {
            step: "db/allow-functions",
            release: "2024.1",
            startedAt: "a",
            result: { changed: true },
          },
        },
      ]),
    );
    expect(records.map((r) => [r.name, r.step, r.release])).toEqual([
      ["db", undefined, undefined],
      ["db/expand", undefined, undefined],
      ["db/allow-functions", "db/allow-functions", "2024.1"],
    ]);
    expect(records[2].outputs).toEqual({
      step: "db/allow-functions",
      release: "2024.1",
      startedAt: "a",
      result: { changed: true },
    });
    expect(urnName(urn("node-2/drain"))).toBe("node-2/drain");
  });

  it("finished steps are those the release recorded, by step id", () => {
    const s = state([
      { urn: urn("db/expand"), outputs: { step: "db/expand", release: "2024.1" } },
      { urn: urn("db/migrate"), outputs: { step: "db/migrate", release: "2023.2" } },
    ]);
    expect([...finishedSteps(s, "2024.1")]).toEqual([["db/expand", urn("db/expand")]]);
  });

  it("the MySQL setting record: changed by this release, restored only by a later restore-setting", () => {
    const allow = {
      urn: urn("db/allow-functions"),
      outputs: {
        release: "2024.1",
        startedAt: "2026-01-01T10:00",
        result: { changed: true, previous: false },
      },
    };
    expect(settingRecord(state([allow]), true)).toEqual({
      release: "2024.1",
      changed: true,
      previous: false,
      restored: false,
      allowed: true,
      from: "allow-functions",
    });
    const restore = (startedAt: string) => ({
      urn: urn("db/restore-setting"),
      outputs: { release: "2024.1", startedAt, result: { restoredTo: false } },
    });
    expect(settingRecord(state([allow, restore("2026-01-01T11:00")]), true)?.restored).toBe(true);
    expect(settingRecord(state([allow, restore("2026-01-01T09:00")]), true)?.restored).toBe(false);
    expect(settingRecord(state([]), true)).toBeUndefined();
  });

  it("recover clears the pending operations and keeps the rest of the state", () => {
    const pending = [{ resource: { urn: urn("node-2/drain") }, type: "creating" }];
    const before = state([{ urn: urn("db/expand") }], pending);
    const { cleaned, cleared } = clearPendingOperations(before);
    expect(cleared).toEqual(pending);
    expect(cleaned).toEqual(state([{ urn: urn("db/expand") }], []));
    expect(clearPendingOperations(state([])).cleared).toEqual([]);
  });

  it("recover keeps a NEW NODE launch in flight (a second up would launch a second instance) and says what to do", () => {
    const launchUrn =
      "urn:pulumi:prod::glance-rolling-upgrade::glance:upgrade:RollingUpgrade$glance:node:NewNode$aws:ec2/instance:Instance::glance-new/provision";
    const launch = { resource: { urn: launchUrn }, type: "creating" };
    const drain = { resource: { urn: urn("node-2/drain") }, type: "creating" };
    const { cleaned, cleared, launches } = clearPendingOperations(state([], [launch, drain]));
    expect(cleared).toEqual([drain]);
    expect(launches).toEqual([launch]);
    expect((cleaned.deployment as { pending_operations: unknown[] }).pending_operations).toEqual([launch]);
    const advice = launchInFlightAdvice(launch, "prod", "2024.1");
    expect(advice).toContain("Name=tag:Name,Values=glance-new Name=tag:glance:release,Values=2024.1");
    expect(advice).toContain("pulumi refresh --clear-pending-creates --stack prod");
    // An update of the instance in flight (its tags) is no launch: cleared as before.
    const updating = { ...launch, type: "updating" };
    expect(clearPendingOperations(state([], [updating])).cleared).toEqual([updating]);
  });
});

describe("recover's view of a lock owner", () => {
  it("a zombie is gone (a killed engine not yet reaped), a running process is not, a pid that is gone is gone", async () => {
    // A real zombie: python forks a child that exits, and never reaps it while it sleeps.
    const parent = spawn(
      "python3",
      ["-c", "import os,time\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(20)"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout.once("data", (d: Buffer) => resolve(d.toString())),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(processAlive(zombie)).toBe(false);
      expect(processAlive(parent.pid ?? -1)).toBe(true);
      // The check before zombies were seen: the signal alone says "alive" (the instrument can tell).
      expect(processAlive(zombie, () => `${zombie} (python3) S 1`)).toBe(true);
      expect(processAlive(zombie, () => `${zombie} (py (x) 3) Z 1`)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
    expect(processAlive(2 ** 22 + 12345)).toBe(false);
  });
});
