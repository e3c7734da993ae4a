/**
 * Upstream's readiness check in the chain: `glance-status upgrade check` runs with the new code on
 * the NEW NODE after its upgrade and before `db expand`. A failing check (upstream's real glance-status
 * 28.2.0 on a config it refuses, exit 2) halts the chain before any schema change, with the fleet
 * serving and the MySQL setting untouched; a warning (exit 1, from a stand-in: 28.2.0 has no check
 * that warns) lets the upgrade complete and shows in the summary.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabState } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { type DriverRun, TestStack } from "../support/driverFixture";
import { labTrustSetting } from "../support/faultTools";
import { spans } from "../support/invariants";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

function withStatusCommand(lab: LabState, command: string): Record<string, unknown> {
  const config = labStackConfig(lab, { transport: "local" });
  const nodeCommands = { ...(config.nodeCommands as Record<string, unknown>), glanceStatusCommand: command };
  return { ...config, nodeCommands };
}

const started = (run: DriverRun) => run.timeline.filter((e) => e.event === "start").map((e) => e.step);

describe("glance-status upgrade check on the NEW NODE", () => {
  let lab: LabState;
  let stack: TestStack;

  beforeAll(async () => {
    lab = await freshLab(3);
    // Upstream's own check, with a config it refuses: the removed owner_is_tenant option set to False.
    const refused = path.join(lab.dir, "glance-status-refused.conf");
    fs.writeFileSync(refused, "[DEFAULT]\nowner_is_tenant = False\n");
    const glanceStatus = path.join(lab.releases[lab.toRelease].venv, "bin", "glance-status");
    stack = TestStack.unique(
      "e2e-upgrade-check",
      withStatusCommand(lab, `${glanceStatus} --config-file ${refused}`),
      LAB_SECRETS,
    );
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("a failing check halts before db expand, the fleet serving and the MySQL setting untouched", async () => {
    const trustBefore = await labTrustSetting(lab);
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    const failed = await stack.driver("up");
    const report = await load.stop();
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stdout).toContain(
      'glance-status upgrade check FAILED (exit 2): Config option owner_is_tenant removal: The "owner_is_tenant" option has been removed',
    );
    const ran = started(failed);
    expect(ran.slice(-2)).toEqual(["node-1/upgrade", "node-1/upgrade-check"]);
    expect(ran.filter((s) => s.startsWith("db/") && s !== "db/backup")).toEqual([]);
    expect(dbCheck(lab)).toBe(3); // expand still pending: no schema change
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    const servers = await readBackendServers(lab.haproxy.runtimeApi, "glance");
    expect(servers.filter((s) => s.status.startsWith("UP")).map((s) => s.server)).toEqual([
      "node-2",
      "node-3",
    ]);
    expectZeroFailedRequests(report, {
      minRequests: 50,
      haproxyLog: lab,
      drains: drainStarts(failed.timeline),
    });
  });

  it("a warning lets the upgrade complete, the check between the upgrade and db expand, and the summary shows it", async () => {
    const standIn = path.join(lab.dir, "glance-status-warns");
    fs.writeFileSync(
      standIn,
      [
        "#!/bin/bash",
        "cat <<'TABLE'",
        "+----------------------------------------------+",
        "| Check: Stand-in Deprecation                  |",
        "| Result: Warning                              |",
        "| Details: an option the next release drops    |",
        "+----------------------------------------------+",
        "TABLE",
        "exit 1",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    stack.rewrite(withStatusCommand(lab, standIn));
    const done = await stack.driver("up");
    expect(done.code, done.stdout).toBe(0);
    expect(done.stdout).toContain(
      "glance-status upgrade check: WARNING (exit 1): Stand-in Deprecation: an option the next release drops",
    );
    const byStep = spans([...stack.timelines()]);
    const check = byStep.get("node-1/upgrade-check")?.at(-1);
    const upgrade = byStep.get("node-1/upgrade")?.at(-1);
    const expand = byStep.get("db/expand")?.at(-1);
    expect(check?.failed).toBe(false);
    expect(upgrade?.end).toBeLessThanOrEqual(check?.start ?? 0);
    expect(check?.end).toBeLessThanOrEqual(expand?.start ?? 0);
    expect(dbCheck(lab)).toBe(0);
  });
});
