/**
 * The bake: node-2's new release passes /healthcheck but fails real requests (its database connection
 * is broken). The bake watching HAProxy's counters catches it, takes node-2 back out, halts the chain
 * before contract, and only requests inside the bake window fail. After the fix, a rerun completes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { labTrustSetting } from "../support/faultTools";
import { TestStack } from "../support/driverFixture";
import { freshLab, removeLab } from "../support/labFixture";
import { spans } from "../support/invariants";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const BAKE_SECONDS = 6;

/** Points the node's new-release config at a closed port, failing every API call with a fast 500. */
function breakDatabase(lab: LabState, node: string, broken: boolean): void {
  const conf = path.join(lab.dir, "nodes", node, lab.toRelease, "glance-api.conf");
  const text = fs.readFileSync(conf, "utf8");
  const good = `127.0.0.1:${lab.ports.mariadb}/glance\n`;
  // no retries: without them oslo.db keeps each request waiting ~100 s instead of answering 500
  const bad = "127.0.0.1:1/glance\nmax_retries = 0\n";
  fs.writeFileSync(conf, broken ? text.replace(good, bad) : text.replace(bad, good));
}

describe("bake catches a release that passes /healthcheck but fails real requests", () => {
  let lab: LabState;
  let stack: TestStack;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = TestStack.unique(
      "e2e-bake",
      {
        ...labStackConfig(lab, { transport: "local" }),
        bake: { windowSeconds: BAKE_SECONDS, errorBudget: 0 },
      },
      LAB_SECRETS,
    );
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("drains the node back out, halts before contract, restores the MySQL setting; only the bake window's requests fail", async () => {
    const trustBefore = await labTrustSetting(lab);
    breakDatabase(lab, "node-2", true);
    const loadStarted = Date.now();
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    const failed = await stack.driver("up");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const report = await load.stop();

    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stdout).toMatch(/bake of node-2 failed after [\d.]+ s: 5xx responses \+[1-9]\d*/);
    expect(failed.stdout).toContain("node-2 is out of rotation (MAINT)");
    const ran = failed.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(ran).toContain("node-1/bake");
    expect(ran.filter((s) => s.startsWith("node-3/") || s === "db/contract")).toEqual([]);
    const servers = await readBackendServers(lab.haproxy.runtimeApi, "glance");
    expect(servers.find((s) => s.server === "node-2")?.status).toMatch(/^MAINT/);
    expect(await labTrustSetting(lab)).toBe(trustBefore);

    // client failures only inside node-2's bake window (from its admission to the end of its bake)
    const byStep = spans(failed.timeline);
    const windowStart = byStep.get("node-2/admit")?.[0]?.start ?? 0;
    const windowEnd = byStep.get("node-2/bake")?.[0]?.end ?? 0;
    expect(report.failures).toBeGreaterThan(0);
    for (const second of report.timeline.filter((t) => t.failures > 0)) {
      const at = loadStarted + second.second * 1000;
      expect(at, `failures at +${second.second}s`).toBeGreaterThanOrEqual(windowStart - 1_000);
      expect(at, `failures at +${second.second}s`).toBeLessThanOrEqual(windowEnd + 1_000);
    }
    expect(report.cutDownloads).toBe(0);

    // the fix: a good config and a restart of node-2 (out of rotation), then the rerun finishes
    breakDatabase(lab, "node-2", false);
    expect((await runGlanceNode(lab.dir, ["stop", "node-2"])).code).toBe(0);
    const resumeLoad = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    const resumed = await stack.driver("up");
    const resumeReport = await resumeLoad.stop();
    expect(resumed.code, resumed.stdout).toBe(0);
    const again = resumed.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(again.slice(0, 3)).toEqual(["node-2/start", "node-2/admit", "node-2/bake"]);
    expect(again.filter((s) => s.startsWith("node-1/") && s !== "node-1/version")).toEqual([]);
    expect(again).toContain("db/contract");
    expectZeroFailedRequests(resumeReport, {
      minRequests: 100,
      haproxyLog: lab,
      drains: drainStarts(resumed.timeline),
    });
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });
});
