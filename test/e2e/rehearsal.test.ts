/**
 * The product's main job, end to end: the driver (real Pulumi engine, local file backend) upgrades a
 * lab fleet of real Glance nodes from release A to B behind real HAProxy on real MariaDB, under
 * continuous client load, with the nodes reached as local commands and then over a real sshd.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad, LoadReport } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS, sshAddress } from "../../lab/stack";
import { RunningSshd, startSshd } from "../../lab/services/sshd";
import { labTrustSetting } from "../support/faultTools";
import { DriverRun, previewSummary, TestStack } from "../support/driverFixture";
import { freshLab, removeLab, sha256Of } from "../support/labFixture";
import { invariantViolations } from "../support/invariants";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";
import { keepCopy, viewReport } from "../support/reportBrowser";
import { expectReportMatchesTimelines } from "../support/reportAssertions";
import { LOAD_FILE, REPORT_FILE } from "../../driver/report/records";

const NODES = 3;
// The plan's steps for 3 existing nodes: 2 head, the NEW NODE's drain, stop, upgrade, upgrade check and
// config check, 4 database, its start and admit, 5 for each other node, 3 version reports, 3 tail.
const STEPS = 29;
const LOAD_WARMUP_MS = 3_000;

/** Runs `up` with the load client running from before the first step to after the last. */
async function upUnderLoad(stack: TestStack, lab: LabState): Promise<{ run: DriverRun; load: LoadReport }> {
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
  const run = await stack.driver("up");
  await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
  return { run, load: await load.stop() };
}

async function expectFleetOnReleaseB(lab: LabState): Promise<void> {
  for (const node of lab.nodes) {
    const version = await runGlanceNode(lab.dir, ["version", node.name]);
    expect(version.stdout.trim(), `${node.name} version`).toBe("28.2.0");
  }
  const check = await runGlanceNode(lab.dir, ["manage", lab.nodes[0].name, "db", "check"]);
  expect(check.code, `db check (new code) output: ${check.stdout}${check.stderr}`).toBe(0);
  for (const image of lab.seedImages) {
    expect(await sha256Of(`${lab.haproxy.frontendUrl}/v2/images/${image.id}/file`)).toBe(image.sha256);
  }
}

describe("rehearsal through the driver, nodes as local commands", () => {
  let lab: LabState;
  let stack: TestStack;
  let trustBefore: boolean;
  let first: { run: DriverRun; load: LoadReport };

  beforeAll(async () => {
    lab = await freshLab(NODES);
    trustBefore = await labTrustSetting(lab);
    stack = TestStack.unique("e2e-local", labStackConfig(lab, { transport: "local" }), LAB_SECRETS);
    first = await upUnderLoad(stack, lab);
  });

  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("upgrades 3 nodes A -> B under load with 0 failed requests and 0 cut downloads", async () => {
    expect(first.run.code, first.run.stdout + first.run.stderr).toBe(0);
    expectZeroFailedRequests(first.load, {
      minRequests: 1_500,
      haproxyLog: lab,
      drains: drainStarts(first.run.timeline),
    });
    await expectFleetOnReleaseB(lab);
    expect(first.run.stdout).toMatch(/node-1\s+\S+ s\s+\S+ s\s+27\.1\.1 -> 28\.2\.0/);
  });

  it("holds I1-I7 on the recorded timeline, and the MySQL setting is back to its prior value", async () => {
    expect(first.run.timeline.length).toBeGreaterThanOrEqual(STEPS * 2);
    expect(
      invariantViolations(first.run.timeline, {
        newNode: "node-1",
        waves: [["node-2"], ["node-3"]],
        minHealthyInRotation: 2,
      }),
    ).toEqual([]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });

  it("report --html draws the run in a real browser: every step's bar where its times put it, the load beside it", async () => {
    // The driver's own page after the up, then the one `report --html` writes with the load beside it.
    expect(fs.existsSync(path.join(first.run.runDir, REPORT_FILE))).toBe(true);
    fs.writeFileSync(
      path.join(first.run.runDir, LOAD_FILE),
      JSON.stringify({ startedAt: first.load.startedAt, perSecond: first.load.timeline }),
    );
    const report = await stack.driver("report", {}, ["--html"]);
    expect(report.code, report.stdout + report.stderr).toBe(0);
    expect(report.stdout).toMatch(/node-1\s+\S+ s\s+\S+ s\s+27\.1\.1 -> 28\.2\.0/);
    const page = path.join(report.runDir, REPORT_FILE);
    expect(report.stdout).toContain(`report page: ${page}`);
    const view = await viewReport(page, path.join(report.runDir, "report.png"));
    keepCopy("rehearsal", page, path.join(report.runDir, "report.png"));
    expect(view.outcome).toBe("completed");
    expectReportMatchesTimelines(view, [first.run.timeline], ["node-1", "node-2", "node-3"]);
    expect(view.bars).toHaveLength(STEPS);
    expect(view.bars.filter((b) => b.lane === "node-2").map((b) => b.kind)).toEqual([
      "drain",
      "stop",
      "upgrade",
      "start",
      "admit",
      "version",
    ]);
    expect(view.failureMarks).toEqual([]);
    expect(view.loadDrawn).toBe(true);
    expect(view.loadFailures).toBe(0);
    expect(fs.statSync(path.join(report.runDir, "report.png")).size).toBeGreaterThan(20_000);
    // Negative control: the same check fails when a step's recorded start is 2 s off the bar.
    const shifted = first.run.timeline.map((e) =>
      e.step === "node-2/stop" && e.event === "start"
        ? { ...e, at: new Date(Date.parse(e.at) + 2_000).toISOString() }
        : e,
    );
    expect(() => expectReportMatchesTimelines(view, [shifted], ["node-1", "node-2", "node-3"])).toThrow(
      /node-2\/stop: left/,
    );
  });

  it("a second up with the same config changes nothing and runs no command (I8)", async () => {
    const again = await stack.driver("up");
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/up: succeeded; \{"same":\d+\}/);
    expect(again.timeline).toEqual([]);
  });

  it("a preview after a release change reports every step changing; one after an unrelated change reports none", async () => {
    const config = labStackConfig(lab, { transport: "local" });
    // The next release after the lab's target: 2024.1 -> 2024.2 (plan refuses 2023.2 -> 2024.2).
    stack.rewrite({
      ...config,
      targetRelease: "2024.2",
      targetVersion: "29.2.1",
      rollbackTo: { release: "2024.1", version: "28.2.0" },
    });
    const releaseChange = await stack.driver("preview");
    expect(releaseChange.code, releaseChange.stdout + releaseChange.stderr).toBe(0);
    expect(previewSummary(releaseChange.stdout).update).toBe(STEPS);
    expect(releaseChange.timeline).toEqual([]);

    stack.rewrite({ ...config, ssh: { user: "glance-ops", hostKeyPolicy: "strict" } });
    const unrelated = await stack.driver("preview");
    expect(unrelated.code, unrelated.stdout + unrelated.stderr).toBe(0);
    const summary = previewSummary(unrelated.stdout);
    expect(summary.update ?? 0).toBe(0);
    expect(summary.create ?? 0).toBe(0);
    expect(summary.same).toBeGreaterThanOrEqual(STEPS);
    stack.rewrite(config);
  });

  it("a bad config fails the preview with the validation message and registers nothing", async () => {
    const bad = TestStack.unique(
      "e2e-bad",
      {
        ...labStackConfig(lab, { transport: "local" }),
        loadBalancer: {
          type: "haproxy",
          runtimeApi: lab.haproxy.runtimeApi,
          backend: "glance",
          maxUnavailable: 5,
        },
      },
      LAB_SECRETS,
    );
    try {
      const run = await bad.driver("preview");
      expect(run.code).toBe(3);
      expect(run.stderr).toContain("glance-rolling-upgrade:loadBalancer.maxUnavailable = 5");
      expect(run.stderr).toContain("nothing was changed");
      expect(bad.exportState()).toEqual([]);
      expect(run.timeline).toEqual([]);
    } finally {
      bad.remove();
    }
  });

  it("says before the run that exec: command needs the Command plugin, naming exec: native, and runs nothing", async () => {
    const needsPlugin = TestStack.unique(
      "e2e-plugin",
      { ...labStackConfig(lab, { transport: "local" }), exec: "command" },
      LAB_SECRETS,
    );
    try {
      const run = await needsPlugin.driver("up");
      expect(run.code).toBe(3);
      expect(run.stderr).toContain("the Pulumi 'command' resource plugin is not installed");
      expect(run.stderr).toContain("set `exec: native`");
      expect(run.timeline).toEqual([]);
      expect(needsPlugin.exportState()).toEqual([]);
    } finally {
      needsPlugin.remove();
    }
  });

  it("destroy removes the step records and touches nothing in the fleet", async () => {
    const run = await stack.driver("destroy");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(stack.exportState().filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
    expect(run.timeline).toEqual([]);
    await expectFleetOnReleaseB(lab);
  });
});

describe("rehearsal through the driver, nodes over SSH with secrets", () => {
  let lab: LabState;
  let sshd: RunningSshd;
  let stack: TestStack;
  let upgrade: { run: DriverRun; load: LoadReport };

  beforeAll(async () => {
    lab = await freshLab(NODES);
    sshd = await startSshd({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), "gru-sshd-")),
      listenAddresses: Array.from({ length: NODES }, (_, i) => sshAddress(i)),
    });
    stack = TestStack.unique(
      "e2e-ssh",
      labStackConfig(lab, {
        transport: "ssh",
        ssh: { port: sshd.port, user: sshd.user, knownHostsFile: sshd.knownHostsFile },
      }),
      { ...LAB_SECRETS, sshPrivateKey: sshd.privateKey },
    );
    upgrade = await upUnderLoad(stack, lab);
  });

  afterAll(async () => {
    stack?.remove();
    await sshd?.stop();
    await removeLab(lab);
  });

  it("upgrades 3 nodes A -> B over SSH under load with 0 failed requests", async () => {
    expect(upgrade.run.code, upgrade.run.stdout + upgrade.run.stderr).toBe(0);
    expectZeroFailedRequests(upgrade.load, {
      minRequests: 1_500,
      haproxyLog: lab,
      drains: drainStarts(upgrade.run.timeline),
    });
    await expectFleetOnReleaseB(lab);
    expect(
      invariantViolations(upgrade.run.timeline, {
        newNode: "node-1",
        waves: [["node-2"], ["node-3"]],
        minHealthyInRotation: 2,
      }),
    ).toEqual([]);
    expect(sshd.log()).toMatch(/Accepted publickey/);
  });

  it("keeps the SSH key and DB passwords out of the state, the driver output and the run records", () => {
    const secrets = [
      LAB_SECRETS.dbPassword,
      LAB_SECRETS.dbAdminPassword,
      sshd.privateKey.trim().split("\n")[1],
    ];
    const state = stack.exportText();
    const records = fs
      .readdirSync(upgrade.run.runDir)
      .map((f) => fs.readFileSync(path.join(upgrade.run.runDir, f), "utf8"));
    for (const secret of secrets) {
      expect(state.includes(secret), "state holds a secret in plaintext").toBe(false);
      expect(upgrade.run.stdout.includes(secret)).toBe(false);
      for (const record of records) expect(record.includes(secret)).toBe(false);
    }
  });
});
