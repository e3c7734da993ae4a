/**
 * The config check in the chain (issue 34, item 5): an upgrade from 2024.1 to 2024.2 (Glance 29.x,
 * which removed `location_strategy`) with that option set in the NEW NODE's glance-api.conf halts at
 * the NEW NODE's config-check, after its upgrade and before any schema step: no db step but the backup
 * ran, the MySQL setting and the schema are untouched, the other node serves with 0 failed requests,
 * and the error names the option and the fix. With the option removed, the rerun starts at the config
 * check (nothing finished runs again) and completes.
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
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const started = (run: DriverRun) => run.timeline.filter((e) => e.event === "start").map((e) => e.step);
const REMOVED = "location_strategy = store_type\n";

describe("the config check on the NEW NODE (2024.1 -> 2024.2, location_strategy set)", () => {
  let lab: LabState;
  let stack: TestStack;
  let conf: string;

  beforeAll(async () => {
    lab = await freshLab(2, () => undefined, { fromRelease: "2024.1", toRelease: "2024.2" });
    conf = path.join(lab.dir, "nodes", lab.nodes[0].name, "2024.2", "glance-api.conf");
    fs.writeFileSync(conf, fs.readFileSync(conf, "utf8").replace("[DEFAULT]\n", `[DEFAULT]\n${REMOVED}`));
    stack = TestStack.unique("e2e-config-check", labStackConfig(lab, { transport: "local" }), LAB_SECRETS);
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("halts before any schema change with the fleet serving, naming the option and the fix", async () => {
    const trustBefore = await labTrustSetting(lab);
    const schemaBefore = dbCheck(lab);
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    const failed = await stack.driver("up");
    const report = await load.stop();
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stdout).toContain(
      `config check FAILED: glance 29.2.1 does not read 1 option(s) of ${conf}: DEFAULT/location_strategy`,
    );
    expect(failed.stdout).toContain(
      `Nothing was changed (no schema step ran; the fleet serves): on the NEW NODE, remove or rename them in ${conf}`,
    );
    const ran = started(failed);
    expect(ran.slice(-3)).toEqual(["node-1/upgrade", "node-1/upgrade-check", "node-1/config-check"]);
    expect(ran.filter((s) => s.startsWith("db/") && s !== "db/backup")).toEqual([]);
    expect(dbCheck(lab)).toBe(schemaBefore);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    const servers = await readBackendServers(lab.haproxy.runtimeApi, "glance");
    expect(servers.filter((s) => s.status.startsWith("UP")).map((s) => s.server)).toEqual(["node-2"]);
    expectZeroFailedRequests(report, {
      minRequests: 30,
      haproxyLog: lab,
      drains: drainStarts(failed.timeline),
    });
  });

  it("with the option removed, the rerun starts at the config check and completes", async () => {
    fs.writeFileSync(conf, fs.readFileSync(conf, "utf8").replace(REMOVED, ""));
    const done = await stack.driver("up");
    expect(done.code, done.stdout).toBe(0);
    const ran = started(done);
    expect(ran[0]).toBe("node-1/config-check");
    expect(ran).not.toContain("node-1/upgrade");
    expect(ran).toContain("db/expand");
    expect(done.stdout).toMatch(
      /node-1\/config-check .*stdout=config check: glance 29\.2\.1 reads every option/,
    );
    expect(dbCheck(lab)).toBe(0);
  });
});
