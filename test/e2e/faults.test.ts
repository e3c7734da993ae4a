/**
 * Faults through the driver (real Pulumi engine, real lab) under continuous client load: each failed
 * run keeps the fleet serving, touches nothing past the failure, restores the MySQL setting where it
 * can, and a rerun after the fault is removed resumes without repeating finished steps. Also: bad
 * stack configs change nothing, and secrets stay out of argv, state, records, output and logs.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAPROXY_BACKEND, LabState, runGlanceNode } from "../../lab/lab";
import { LoadReport, RunningLoad, startLoad } from "../../lab/load/client";
import { RunningSshd, startSshd } from "../../lab/services/sshd";
import { defaultLabLayout, LAB_SECRETS, labStackConfig, sshAddress } from "../../lab/stack";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { DriverRun, TestStack } from "../support/driverFixture";
import {
  addLabDbUser,
  CommandLineSamples,
  HeldDownload,
  holdDownloadOn,
  labTrustSetting,
  latestProgress,
  latestTimeline,
  logFilesUnder,
  pollFor,
  sampleCommandLines,
  sleep,
  TcpProxy,
} from "../support/faultTools";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";
import { keepCopy, viewReport } from "../support/reportBrowser";
import { expectReportMatchesTimelines } from "../support/reportAssertions";
import { LOAD_FILE, REPORT_FILE } from "../../driver/report/records";

const NODES = 3;
const LOAD_WARMUP_MS = 3_000;
const RELEASE_A_VERSION = "27.1.1";
const RELEASE_B_VERSION = "28.2.0";
/** What the NEW NODE finished before any fault here: a rerun must not run these again. */
const FINISHED_BEFORE_FAULTS = ["preflight", "db/backup", "node-1/drain", "node-1/stop", "node-1/upgrade"];
const NS = "glance-rolling-upgrade";

type Config = Record<string, unknown>;

/** The config with `changes` merged into its `section` object (e.g. database, nodeCommands). */
function patched(config: Config, section: string, changes: Config): Config {
  return { ...config, [section]: { ...(config[section] as Config), ...changes } };
}

/** The lab's switch command, and then, on node-1 only, `then` (a fault injected by the NEW NODE's upgrade). */
function upgradeThenOnNewNode(config: Config, then: string): Config {
  const upgrade = (config.nodeCommands as Config).upgradeCommand as string;
  return patched(config, "nodeCommands", {
    upgradeCommand: `${upgrade} && if [ "$GLANCE_NODE" = node-1 ]; then ${then}; fi`,
  });
}

function output(run: DriverRun): string {
  return `${run.stdout}\n--- stderr ---\n${run.stderr}`;
}

function startedSteps(run: DriverRun): string[] {
  return run.timeline.filter((e) => e.event === "start").map((e) => e.step);
}

function failedSteps(run: DriverRun): Array<{ step: string; error: string }> {
  return run.timeline.filter((e) => e.event === "fail").map((e) => ({ step: e.step, error: e.error ?? "" }));
}

function expectNotRerun(run: DriverRun, steps: string[]): void {
  expect(
    startedSteps(run).filter((step) => steps.includes(step)),
    "finished steps run again",
  ).toEqual([]);
}

async function startWarmLoad(lab: LabState): Promise<RunningLoad> {
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  await sleep(LOAD_WARMUP_MS);
  return load;
}

async function stopLoad(load: RunningLoad): Promise<LoadReport> {
  await sleep(LOAD_WARMUP_MS);
  return load.stop();
}

async function glanceNode(lab: LabState, args: string[]): Promise<string> {
  return (await runGlanceNode(lab.dir, args)).stdout.trim();
}

/** `glance-manage db check` with the NEW NODE's (new) code: 0 up to date, 3 expand needed, 5 contract needed. */
async function dbCheck(lab: LabState): Promise<number> {
  return (await runGlanceNode(lab.dir, ["manage", "node-1", "db", "check"])).code;
}

async function haproxyStatus(lab: LabState): Promise<Record<string, string>> {
  const servers = await readBackendServers(lab.haproxy.runtimeApi, HAPROXY_BACKEND);
  return Object.fromEntries(servers.map((s) => [s.server, s.status]));
}

async function expectFleetOnReleaseB(lab: LabState): Promise<void> {
  for (const node of lab.nodes) expect(await glanceNode(lab, ["version", node.name])).toBe(RELEASE_B_VERSION);
  expect(await dbCheck(lab), "db check (new code) after the completed upgrade").toBe(0);
  expect(Object.values(await haproxyStatus(lab))).toEqual(["UP", "UP", "UP"]);
}

/** Runs the driver, calling `whenDue` once `due()` holds on the run's records (fails the run wait if never). */
async function upWithFaultAt(
  stack: TestStack,
  what: string,
  due: () => boolean,
  whenDue: () => Promise<void>,
): Promise<DriverRun> {
  let settled = false;
  const running = stack.driver("up").finally(() => {
    settled = true;
  });
  const injected = pollFor(what, due, { timeoutMs: 180_000, giveUp: () => settled })
    .then(whenDue)
    .then(
      () => undefined,
      (error: Error) => error,
    );
  const run = await running;
  const notInjected = await injected;
  if (notInjected) throw new Error(`${notInjected.message}; the run's output:\n${output(run)}`);
  return run;
}

describe("fault 4: the database is unreachable for the upgrade tool when expand is due", () => {
  let lab: LabState;
  let proxy: TcpProxy;
  let stack: TestStack;
  let load: RunningLoad | undefined;
  let trustBefore: boolean;
  let flag: string;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    trustBefore = await labTrustSetting(lab);
    // The stack reaches MariaDB through the proxy; the Glance nodes keep the real port.
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: lab.ports.mariadb });
    flag = path.join(lab.dir, "database-gone");
    proxy.refuseWhen = () => fs.existsSync(flag);
    const labConfig = labStackConfig(lab, { transport: "local" });
    // oslo.db retries a dead database 10 times 10 s apart; once, 1 s later, keeps the test short.
    const manage = `OS_DATABASE__MAX_RETRIES=1 OS_DATABASE__RETRY_INTERVAL=1 ${(labConfig.nodeCommands as Config).glanceManageCommand as string}`;
    const config = upgradeThenOnNewNode(
      patched(patched(labConfig, "database", { port: proxy.port }), "nodeCommands", {
        glanceManageCommand: manage,
      }),
      `touch ${flag}`,
    );
    stack = TestStack.unique("e2e-fault-db", config, LAB_SECRETS);
    load = await startWarmLoad(lab);
  });

  afterAll(async () => {
    await load?.stop();
    await proxy?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("fails once the NEW NODE is upgraded, naming the database host:port; only the NEW NODE was touched", async () => {
    const run = await stack.driver("up");
    expect(run.code, output(run)).toBe(1);
    expect(proxy.refused, "connections the dead database refused").toBeGreaterThan(0);
    const failed = failedSteps(run);
    expect(failed.map((f) => f.step)).toEqual(["db/allow-functions"]);
    expect(failed[0].error).toContain(`127.0.0.1:${proxy.port}`);
    expect(run.stdout).toContain(`at 127.0.0.1:${proxy.port}`);

    const started = startedSteps(run);
    expect(started.filter((step) => /^node-[23]\//.test(step))).toEqual([]);
    expect(started).not.toContain("db/expand");
    expect(started).not.toContain("db/contract");
    expect(await dbCheck(lab), "db check (new code): expand still pending").toBe(3);
    expect(await haproxyStatus(lab)).toEqual({ "node-1": "MAINT", "node-2": "UP", "node-3": "UP" });
    for (const node of ["node-2", "node-3"]) {
      expect(await glanceNode(lab, ["version", node])).toBe(RELEASE_A_VERSION);
      expect(await glanceNode(lab, ["status", node])).toBe("running");
    }
    expect(run.stdout).toContain("log_bin_trust_function_creators: not changed by this upgrade");
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });

  it("fails again when the database goes away right after the setting was changed, and says it could not restore it", async () => {
    fs.rmSync(flag);
    const refusedBefore = proxy.refused;
    proxy.refuseWhen = () =>
      latestTimeline(stack.folder).some((e) => e.step === "db/allow-functions" && e.event === "end");
    const run = await stack.driver("up");
    expect(run.code, output(run)).toBe(1);
    expect(proxy.refused).toBeGreaterThan(refusedBefore);
    expectNotRerun(run, FINISHED_BEFORE_FAULTS);
    expect(failedSteps(run).map((f) => f.step)).toEqual(["db/expand"]);
    const started = startedSteps(run);
    expect(started.filter((step) => /^node-[23]\//.test(step))).toEqual([]);
    expect(started).not.toContain("db/contract");
    expect(await dbCheck(lab)).toBe(3);
    // I7 cannot hold while the database is unreachable: the driver must say so, naming where.
    const afterFailure = output(run).slice(output(run).indexOf("up FAILED"));
    expect(afterFailure).toMatch(
      /log_bin_trust_function_creators[^\n]*(not|n't) (be )?restored|(could not|cannot|failed to) restore log_bin_trust_function_creators/,
    );
    expect(afterFailure).toContain(`127.0.0.1:${proxy.port}`);
    expect(await labTrustSetting(lab), "the setting the driver could not restore").toBe(true);
  });

  it("with the database back, up resumes at the failed step and completes; the setting is back", async () => {
    proxy.refuseWhen = () => false;
    const run = await stack.driver("up");
    expect(run.code, output(run)).toBe(0);
    expectNotRerun(run, [...FINISHED_BEFORE_FAULTS, "db/allow-functions"]);
    expect(startedSteps(run)[0]).toBe("db/expand");
    expect(startedSteps(run)).toContain("db/contract");
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    await expectFleetOnReleaseB(lab);
    const report = await stopLoad(load as RunningLoad);
    load = undefined;
    expectZeroFailedRequests(report, {
      minRequests: 200,
      haproxyLog: lab,
      drains: drainStarts(stack.timelines()),
    });
  });
});

describe("fault 5: the HAProxy runtime API dies while node-2's drain waits for an in-flight download", () => {
  let lab: LabState;
  let proxy: TcpProxy;
  let stack: TestStack;
  let held: HeldDownload;
  let load: RunningLoad | undefined;
  let trustBefore: boolean;
  let drainLine = "";

  beforeAll(async () => {
    lab = await freshLab(NODES);
    trustBefore = await labTrustSetting(lab);
    proxy = await TcpProxy.start({ path: lab.haproxy.runtimeApi.slice("unix:".length) });
    const config = patched(labStackConfig(lab, { transport: "local" }), "loadBalancer", {
      runtimeApi: proxy.address,
    });
    stack = TestStack.unique("e2e-fault-lb", config, LAB_SECRETS);
    held = await holdDownloadOn({
      frontendUrl: lab.haproxy.frontendUrl,
      imageId: lab.seedImages[0].id,
      server: "node-2",
    });
    load = await startWarmLoad(lab);
  });

  afterAll(async () => {
    await load?.stop();
    await proxy?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("fails with node-2 reported in exactly the state it is in; nothing stopped, nothing contracted", async () => {
    const run = await upWithFaultAt(
      stack,
      "node-2's drain to wait for its sessions",
      () => {
        drainLine =
          latestProgress(stack.folder).find(
            (l) => l.startsWith("[node-2/drain]") && l.includes("set to DRAIN"),
          ) ?? "";
        return drainLine !== "";
      },
      () => proxy.kill(),
    );
    expect(run.code, output(run)).toBe(1);
    expect(drainLine).toMatch(/set to DRAIN with [1-9]\d* session\(s\) in flight/);

    const failed = failedSteps(run);
    expect(failed.map((f) => f.step)).toEqual(["node-2/drain"]);
    const error = failed[0].error;
    expect(error).toContain(`HAProxy runtime API at ${proxy.address} is unreachable`);
    expect(run.stdout).toContain(`lost the HAProxy runtime API while watching ${HAPROXY_BACKEND}/node-2`);
    const actual = (await haproxyStatus(lab))["node-2"];
    expect(actual).toBe("DRAIN");
    expect(error).toMatch(new RegExp(`last seen ${actual} `));
    const statesNamed = [/\bUP\b|in rotation/, /\bDRAIN\b/, /\bMAINT\b/].filter((state) => state.test(error));
    expect(statesNamed, `the error names one state, not several: ${error}`).toHaveLength(1);

    const started = startedSteps(run);
    expect(started).not.toContain("node-2/stop");
    expect(started.filter((step) => step.startsWith("node-3/"))).toEqual([]);
    expect(started).not.toContain("db/contract");
    expect(await glanceNode(lab, ["status", "node-2"])).toBe("running");
    expect(await glanceNode(lab, ["version", "node-2"])).toBe(RELEASE_A_VERSION);
    expect(await dbCheck(lab), "db check (new code): contract still pending").toBe(5);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });

  it("the download node-2's drain was waiting for finishes intact", async () => {
    const done = await held.finish();
    expect(done.bytes).toBe(lab.seedImages[0].size);
    expect(done.sha256).toBe(lab.seedImages[0].sha256);
  });

  it("with the runtime API back, up resumes at node-2's drain and completes", async () => {
    await proxy.listen();
    const run = await stack.driver("up");
    expect(run.code, output(run)).toBe(0);
    expect(startedSteps(run)[0]).toBe("node-2/drain");
    expectNotRerun(run, [...FINISHED_BEFORE_FAULTS, "db/expand", "node-1/admit"]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    await expectFleetOnReleaseB(lab);
    const report = await stopLoad(load as RunningLoad);
    load = undefined;
    expectZeroFailedRequests(report, {
      minRequests: 200,
      haproxyLog: lab,
      drains: drainStarts(stack.timelines()),
    });
  });
});

describe("fault 7: the capacity guard trips when node-3 turns unhealthy before node-2's drain", () => {
  let lab: LabState;
  let stack: TestStack;
  let load: RunningLoad | undefined;
  let trustBefore: boolean;
  let disableFile: string;
  let refused: DriverRun;
  let resumed: DriverRun;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    trustBefore = await labTrustSetting(lab);
    disableFile = lab.nodes[2].healthcheckDisableFile;
    const config = upgradeThenOnNewNode(
      patched(labStackConfig(lab, { transport: "local" }), "loadBalancer", { minHealthy: 2 }),
      `touch ${disableFile}`,
    );
    stack = TestStack.unique("e2e-fault-guard", config, LAB_SECRETS);
    load = await startWarmLoad(lab);
  });

  afterAll(async () => {
    await load?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("refuses node-2's drain with the capacity message; node-2 keeps serving release A, node-3 still runs", async () => {
    const run = await stack.driver("up");
    refused = run;
    expect(run.code, output(run)).toBe(1);
    const failed = failedSteps(run);
    expect(failed.map((f) => f.step)).toEqual(["node-2/drain"]);
    expect(failed[0].error).toMatch(
      /refusing to drain glance\/node-2: only 1 other healthy servers \(node-1\), minHealthy is 2; nothing was changed/,
    );
    expect(run.stdout).toContain("refusing to drain glance/node-2");
    const started = startedSteps(run);
    expect(started).not.toContain("node-2/stop");
    expect(started.filter((step) => step.startsWith("node-3/"))).toEqual([]);
    expect(started).not.toContain("db/contract");
    const status = await haproxyStatus(lab);
    expect(status["node-2"], "node-2 still in rotation").toBe("UP");
    expect(status["node-3"], "the injected fault held").toMatch(/^DOWN/);
    expect(await glanceNode(lab, ["status", "node-2"])).toBe("running");
    expect(await glanceNode(lab, ["version", "node-2"])).toBe(RELEASE_A_VERSION);
    expect(await glanceNode(lab, ["status", "node-3"])).toBe("running");
    expect(await labTrustSetting(lab)).toBe(trustBefore);
  });

  it("with node-3 healthy again, up resumes at node-2's drain and completes", async () => {
    fs.rmSync(disableFile);
    await pollFor("HAProxy to see node-3 UP", async () => (await haproxyStatus(lab))["node-3"] === "UP", {
      timeoutMs: 30_000,
    });
    const run = await stack.driver("up");
    resumed = run;
    expect(run.code, output(run)).toBe(0);
    expect(startedSteps(run)[0]).toBe("node-2/drain");
    expectNotRerun(run, [...FINISHED_BEFORE_FAULTS, "db/expand", "node-1/admit"]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    await expectFleetOnReleaseB(lab);
    const report = await stopLoad(load as RunningLoad);
    load = undefined;
    fs.writeFileSync(
      path.join(run.runDir, LOAD_FILE),
      JSON.stringify({ startedAt: report.startedAt, perSecond: report.timeline }),
    );
    expectZeroFailedRequests(report, {
      minRequests: 200,
      haproxyLog: lab,
      drains: drainStarts(stack.timelines()),
    });
  });

  it("the report page, in a real browser: the failed run with its failure mark, then joined with its resume", async () => {
    const nodes = ["node-1", "node-2", "node-3"];
    // The page the driver wrote after the failed run: that run alone, failed, marked on node-2's lane.
    const failedView = await viewReport(
      path.join(refused.runDir, REPORT_FILE),
      path.join(refused.runDir, "report.png"),
    );
    keepCopy(
      "fault-7-failed",
      path.join(refused.runDir, REPORT_FILE),
      path.join(refused.runDir, "report.png"),
    );
    expect(failedView.outcome).toBe("failed");
    expectReportMatchesTimelines(failedView, [refused.timeline], nodes);
    expect(failedView.failureMarks.map((m) => m.lane)).toEqual(["node-2"]);
    expect(failedView.bars.filter((b) => b.status === "failed").map((b) => b.step)).toEqual(["node-2/drain"]);
    // `report --html` after the resume: both runs in one picture, the failure kept, the load beside them.
    const html = await stack.driver("report", {}, ["--html"]);
    expect(html.code, output(html)).toBe(0);
    const view = await viewReport(path.join(html.runDir, REPORT_FILE), path.join(html.runDir, "report.png"));
    keepCopy("fault-7-resumed", path.join(html.runDir, REPORT_FILE), path.join(html.runDir, "report.png"));
    expect(view.outcome).toBe("completed");
    expectReportMatchesTimelines(view, [refused.timeline, resumed.timeline], nodes);
    expect(view.failureMarks.map((m) => m.lane)).toEqual(["node-2"]);
    expect(view.loadDrawn).toBe(true);
    expect(view.loadFailures).toBe(0);
  });
});

describe("bad stack configs through the driver's preview", () => {
  const base = labStackConfig(defaultLabLayout(NODES), { transport: "local" });
  const nodes = base.nodes as Config[];
  const withNode = (index: number, changes: Config): Config => ({
    ...base,
    nodes: nodes.map((node, i) => (i === index ? { ...node, ...changes } : node)),
  });
  const plaintextPassword = `plaintext-${randomBytes(6).toString("hex")}`;
  const { targetRelease: _dropped, ...withoutRelease } = base;
  const variants: Array<{ name: string; config: Config; secrets?: Record<string, string>; shows: string }> = [
    { name: "no targetRelease", config: withoutRelease, shows: `${NS}:targetRelease = (not set)` },
    {
      name: "maxUnavailable as large as the fleet",
      config: patched(base, "loadBalancer", { maxUnavailable: 3 }),
      shows: `${NS}:loadBalancer.maxUnavailable = 3`,
    },
    {
      name: "minHealthy above what can stay in rotation",
      config: patched(base, "loadBalancer", { minHealthy: 3 }),
      shows: `${NS}:loadBalancer.minHealthy = 3`,
    },
    {
      name: "node name with a shell metacharacter",
      config: withNode(1, { name: "node-2;reboot" }),
      shows: `${NS}:nodes[1].name = "node-2;reboot"`,
    },
    {
      name: "node address that would be an ssh option",
      config: withNode(2, { address: "-oProxyCommand=touch" }),
      shows: `${NS}:nodes[2].address = "-oProxyCommand=touch"`,
    },
    {
      name: "two nodes with one health URL",
      config: withNode(1, { healthUrl: nodes[0].healthUrl }),
      shows: `${NS}:nodes[1]: duplicate health URL`,
    },
    {
      name: "NEW NODE not in the fleet",
      config: { ...base, newNode: { existing: "node-9" } },
      shows: `${NS}:newNode.existing = "node-9": no such node`,
    },
    {
      name: "command with a newline",
      config: patched(base, "nodeCommands", { stopCommand: "true\nrm -rf /" }),
      shows: `${NS}:nodeCommands.stopCommand = "true\\nrm -rf /"`,
    },
    {
      name: "misspelt key",
      config: { ...base, nodeComands: base.nodeCommands },
      shows: `${NS}:nodeComands: unknown key`,
    },
    {
      name: "ssh transport without ssh settings",
      config: withNode(0, { transport: "ssh" }),
      shows: `${NS}:nodes[0].transport = "ssh": set ${NS}:ssh`,
    },
    {
      name: "dbPassword in plaintext",
      config: { ...base, dbPassword: plaintextPassword },
      secrets: { dbAdminPassword: LAB_SECRETS.dbAdminPassword },
      shows: `${NS}:dbPassword is stored in plaintext`,
    },
    {
      name: "admin user without dbAdminPassword",
      config: base,
      secrets: { dbPassword: LAB_SECRETS.dbPassword },
      shows: `${NS}:dbAdminPassword is required when database.adminUser is set`,
    },
  ];

  it(`rejects ${variants.length} variants: exit 3, the key named, nothing registered, no command run`, async () => {
    expect(variants.length).toBeGreaterThanOrEqual(10);
    const stacks = variants.map((v) => TestStack.unique("e2e-badcfg", v.config, v.secrets ?? LAB_SECRETS));
    try {
      const runs: DriverRun[] = [];
      for (let i = 0; i < stacks.length; i += 3) {
        runs.push(...(await Promise.all(stacks.slice(i, i + 3).map((stack) => stack.driver("preview")))));
      }
      variants.forEach((variant, i) => {
        const run = runs[i];
        const context = `${variant.name}:\n${output(run)}`;
        expect.soft(run.code, context).toBe(3);
        expect.soft(run.stderr, context).toContain(variant.shows);
        expect.soft(run.stderr, context).toContain("nothing was changed");
        expect.soft(run.timeline, context).toEqual([]);
        expect.soft(stacks[i].exportState(), context).toEqual([]);
      });
      expect(runs.some((run) => output(run).includes(plaintextPassword))).toBe(false);
    } finally {
      for (const stack of stacks) stack.remove();
    }
  });
});

describe("secrets over SSH stay out of argv, state, run records, driver output and lab logs", () => {
  const secrets = {
    dbPassword: `db-${randomBytes(12).toString("hex")}`,
    dbAdminPassword: `admin-${randomBytes(12).toString("hex")}`,
  };
  let lab: LabState;
  let sshd: RunningSshd;
  let stack: TestStack;
  let run: DriverRun;
  let load: LoadReport;
  let samples: CommandLineSamples;
  let keyLine: string;

  beforeAll(async () => {
    lab = await freshLab(NODES);
    // Accounts with passwords of this test's own, so a hit can only come from this run.
    await addLabDbUser(lab, "glance_e2e", secrets.dbPassword, "ALL ON glance.*");
    await addLabDbUser(lab, "admin_e2e", secrets.dbAdminPassword, "ALL PRIVILEGES ON *.*");
    sshd = await startSshd({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), "gru-sshd-")),
      listenAddresses: Array.from({ length: NODES }, (_, i) => sshAddress(i)),
    });
    const keyLines = sshd.privateKey.trim().split("\n");
    keyLine = keyLines[Math.floor(keyLines.length / 2)];
    const config = patched(
      labStackConfig(lab, {
        transport: "ssh",
        ssh: { port: sshd.port, user: sshd.user, knownHostsFile: sshd.knownHostsFile },
      }),
      "database",
      { user: "glance_e2e", adminUser: "admin_e2e" },
    );
    stack = TestStack.unique("e2e-secrets", config, { ...secrets, sshPrivateKey: sshd.privateKey });
    const running = await startWarmLoad(lab);
    const sampler = sampleCommandLines(100);
    run = await stack.driver("up");
    samples = await sampler.stop();
    load = await stopLoad(running);
  });

  afterAll(async () => {
    stack?.remove();
    await sshd?.stop();
    await removeLab(lab);
  });

  it("upgrades over SSH with 0 failed requests, and the sampler saw the run's processes", async () => {
    expect(run.code, output(run)).toBe(0);
    expectZeroFailedRequests(load, { minRequests: 200, haproxyLog: lab, drains: drainStarts(run.timeline) });
    expect(sshd.log()).toMatch(/Accepted publickey/);
    await expectFleetOnReleaseB(lab);
    expect(samples.rounds).toBeGreaterThanOrEqual(50);
    expect(samples.commandLines.some((line) => line.includes("dist/driver/cli.js"))).toBe(true);
    expect(samples.commandLines.some((line) => /^ssh /.test(line))).toBe(true);
    expect(samples.commandLines.some((line) => line.includes("glance-manage"))).toBe(true);
  });

  it("no secret appears anywhere it could leak to", () => {
    const places: Array<[string, string]> = [
      ["the state (pulumi stack export)", stack.exportText()],
      ["driver stdout", run.stdout],
      ["driver stderr", run.stderr],
      ["the sshd log", sshd.log()],
      ...samples.commandLines.map((line): [string, string] => [`argv: ${line.slice(0, 200)}`, line]),
      ...fs
        .readdirSync(run.runDir)
        .map((f): [string, string] => [`run record ${f}`, fs.readFileSync(path.join(run.runDir, f), "utf8")]),
      ...logFilesUnder(lab.dir).map((f): [string, string] => [`lab log ${f}`, fs.readFileSync(f, "latin1")]),
    ];
    expect(places.filter(([where]) => where.startsWith("lab log")).length).toBeGreaterThanOrEqual(NODES);
    const leaks = places.flatMap(([where, text]) =>
      [
        ["dbPassword", secrets.dbPassword],
        ["dbAdminPassword", secrets.dbAdminPassword],
        ["sshPrivateKey", keyLine],
      ]
        .filter(([, secret]) => text.includes(secret))
        .map(([name]) => `${name} in ${where}`),
    );
    expect(leaks).toEqual([]);
  });
});
