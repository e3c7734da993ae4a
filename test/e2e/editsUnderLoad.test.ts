/**
 * Issue 30's three edits on the Glance lab under load, one upgrade and its reruns: a `database.caFile`
 * edit at a checkpoint, `drainTimeoutSeconds` raised after a drain timed out (as the error advises),
 * `stopCommand` edited after success; then a node's address edited, which runs that node's whole unit
 * again. Before each run the preview says what will run; the run's timeline matches it, and no node is
 * stopped without its drain in the same run. The load's verdict covers every run.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { LoadReport, startLoad } from "../../lab/load/client";
import { HAPROXY_BACKEND } from "../../lab/state";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import type { TimelineEvent } from "../../steps/record";
import { DriverRun, previewSummary, TestStack } from "../support/driverFixture";
import { HeldDownload, holdDownloadOn, sleep } from "../support/faultTools";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const started = (run: DriverRun) => run.timeline.filter((e) => e.event === "start").map((e) => e.step);

/** Every node stopped in a run was drained in that same run, before its stop. */
function expectNoStopWithoutDrain(timeline: TimelineEvent[]): void {
  const steps = timeline.filter((e) => e.event === "start").map((e) => e.step);
  for (const [index, step] of steps.entries()) {
    const stop = /^(node-\d+)\/stop$/.exec(step);
    if (stop) expect(steps.slice(0, index), `${step} without its drain`).toContain(`${stop[1]}/drain`);
  }
}

/** The preview's plan, and the run after it: only creates and updates run, and no more than planned. */
async function previewThenUp(stack: TestStack): Promise<{ planned: Record<string, number>; run: DriverRun }> {
  const preview = await stack.driver("preview");
  expect(preview.code, preview.stdout + preview.stderr).toBe(0);
  const planned = previewSummary(preview.stdout);
  const run = await stack.driver("up");
  expectNoStopWithoutDrain(run.timeline);
  expect(started(run).length).toBeLessThanOrEqual((planned.create ?? 0) + (planned.update ?? 0));
  return { planned, run };
}

describe("edits between runs, on the Glance lab under load", () => {
  let lab: LabState;
  let stack: TestStack;
  let config: Record<string, unknown>;
  let load: ReturnType<typeof startLoad> | undefined;
  let held: HeldDownload | undefined;

  const lb = () => config.loadBalancer as Record<string, unknown>;
  const rewrite = (next: Record<string, unknown>) => {
    config = next;
    stack.rewrite(config);
  };

  beforeAll(async () => {
    lab = await freshLab(3);
    config = {
      ...labStackConfig(lab, { transport: "local", tlsCaFile: lab.db.caFile }),
      pauseAfter: "newNode",
    };
    stack = TestStack.unique("e2e-edits-load", config, LAB_SECRETS);
    load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    await sleep(3_000);
  });
  afterAll(async () => {
    await held?.finish().catch(() => undefined);
    await load?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("database.caFile edited at a checkpoint: the backup is not retaken, nothing finished runs again", async () => {
    const paused = await stack.driver("up");
    expect(paused.code, paused.stdout).toBe(0);
    expect(started(paused)).toContain("db/backup");
    const backupFile = fs.readdirSync(path.join(lab.dir, "backups"))[0];
    const backupBefore = fs.statSync(path.join(lab.dir, "backups", backupFile)).mtimeMs;

    // The same CA at another path, and the release approved: what the checkpoint asked for.
    const caCopy = path.join(lab.dir, "ca-copy.pem");
    fs.copyFileSync(lab.db.caFile, caCopy);
    rewrite({
      ...config,
      database: { ...(config.database as Record<string, unknown>), caFile: caCopy },
      approvedRelease: config.targetRelease,
      // Set up the next case: node-2's drain will meet a download held open past this bound.
      loadBalancer: { ...lb(), drainTimeoutSeconds: 3 },
    });
    held = await holdDownloadOn({
      frontendUrl: lab.haproxy.frontendUrl,
      imageId: lab.seedImages[0].id,
      server: "node-2",
    });
    const { planned, run } = await previewThenUp(stack);
    expect(planned.update ?? 0, "nothing that finished runs again").toBe(0);
    expect(run.code, "node-2's drain times out on the held download").not.toBe(0);
    expect(run.timeline.find((e) => e.event === "fail")?.step).toBe("node-2/drain");
    expect(run.stdout + run.stderr).toContain("raise drainTimeoutSeconds");
    expect(started(run)).not.toContain("db/backup");
    expect(fs.statSync(path.join(lab.dir, "backups", backupFile)).mtimeMs).toBe(backupBefore);
  });

  it("drainTimeoutSeconds raised as the error advised: the rerun resumes at node-2's drain and completes", async () => {
    rewrite({ ...config, loadBalancer: { ...lb(), drainTimeoutSeconds: 60 } });
    // The long download ends a few seconds into the drain.
    const finishing = sleep(8_000).then(() => held?.finish());
    const { planned, run } = await previewThenUp(stack);
    await finishing;
    held = undefined;
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(planned.update ?? 0).toBe(0);
    expect(started(run)[0]).toBe("node-2/drain");
    expect(started(run).length).toBe(planned.create);
    expect(dbCheck(lab)).toBe(0);
  });

  it("stopCommand edited after success: the preview plans nothing, and nothing runs", async () => {
    const commands = config.nodeCommands as Record<string, string>;
    rewrite({ ...config, nodeCommands: { ...commands, stopCommand: `${commands.stopCommand} # edited` } });
    const { planned, run } = await previewThenUp(stack);
    expect(run.code, run.stdout).toBe(0);
    expect((planned.create ?? 0) + (planned.update ?? 0)).toBe(0);
    expect(started(run)).toEqual([]);
  });

  it("node-3's address edited: its whole unit runs again in order, under load, and the fleet served throughout", async () => {
    const nodes = (config.nodes as Array<Record<string, unknown>>).map((n) =>
      n.name === "node-3" ? { ...n, address: "localhost" } : n,
    );
    rewrite({ ...config, nodes });
    const { planned, run } = await previewThenUp(stack);
    expect(run.code, run.stdout).toBe(0);
    const unit = [
      "node-3/drain",
      "node-3/stop",
      "node-3/upgrade",
      "node-3/start",
      "node-3/admit",
      "node-3/version",
    ];
    expect(planned.update).toBe(unit.length);
    expect(started(run)).toEqual(unit);

    await sleep(3_000);
    const report: LoadReport = await (load as ReturnType<typeof startLoad>).stop();
    load = undefined;
    expectZeroFailedRequests(report, {
      minRequests: 300,
      haproxyLog: lab,
      drains: drainStarts(stack.timelines()),
    });
    const servers = await readBackendServers(lab.haproxy.runtimeApi, HAPROXY_BACKEND);
    expect(servers.map((s) => s.status)).toEqual(["UP", "UP", "UP"]);
    for (const node of lab.nodes)
      expect((await runGlanceNode(lab.dir, ["release", node.name])).stdout.trim()).toBe("2024.1");
  });
});
