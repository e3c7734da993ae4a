/**
 * Failures that must leave the fleet serving and be recoverable, in a lab under continuous load:
 * the NEW NODE's new release does not start (resumed by a plain `pulumi up`, with no replace list);
 * a later node fails its health gate; the rollback after that; and the driver killed in the middle
 * of a node's upgrade, then `recover` and `up`.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { RunningLoad, startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { LAB_CREDENTIALS } from "../../lab/state";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { labTrustSetting } from "../support/faultTools";
import type { TimelineEvent } from "../../steps/record";
import { readTimeline, TestStack } from "../support/driverFixture";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { spans } from "../support/invariants";
import { PROJECT_ROOT } from "../../driver/environment";
import { schemaLockFile } from "../../steps/node/scripts";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const HEALTH_TIMEOUT_SECONDS = 12;

function stackFor(lab: LabState, prefix: string): TestStack {
  return TestStack.unique(
    prefix,
    labStackConfig(lab, { transport: "local", healthTimeoutSeconds: HEALTH_TIMEOUT_SECONDS }),
    LAB_SECRETS,
  );
}

/** Breaks (or mends) a node's config for the target release, so its new glance-api dies at start. */
function breakRelease(lab: LabState, node: string, broken: boolean): void {
  const conf = path.join(lab.dir, "nodes", node, lab.toRelease, "glance-api.conf");
  const text = fs.readFileSync(conf, "utf8");
  const marker = "\n[DEFAULT]\nbind_port = not-a-port\n";
  fs.writeFileSync(conf, broken ? text + marker : text.replace(marker, ""));
}

async function releases(lab: LabState): Promise<Record<string, string>> {
  const entries = await Promise.all(
    lab.nodes.map(
      async (n) => [n.name, (await runGlanceNode(lab.dir, ["release", n.name])).stdout.trim()] as const,
    ),
  );
  return Object.fromEntries(entries);
}

function stepsThatRan(timeline: TimelineEvent[]): string[] {
  return timeline.filter((e) => e.event === "start").map((e) => e.step);
}

function stepsThatFinished(timeline: TimelineEvent[]): string[] {
  return timeline.filter((e) => e.event === "end").map((e) => e.step);
}

async function haproxyStatus(lab: LabState, node: string): Promise<string> {
  const servers = await readBackendServers(lab.haproxy.runtimeApi, "glance");
  return servers.find((s) => s.server === node)?.status ?? "missing";
}

describe("a NEW NODE whose new release does not start (fault 1)", () => {
  let lab: LabState;
  let stack: TestStack;
  let load: RunningLoad;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = stackFor(lab, "e2e-fault1");
    load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  });
  afterAll(async () => {
    await load?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("halts at its health gate with the fleet serving, the NEW NODE out, the DB expanded but not contracted; a plain `pulumi up` (no replace list) resumes", async () => {
    const trustBefore = await labTrustSetting(lab);
    breakRelease(lab, "node-1", true);
    const failed = await stack.driver("up");
    expect(failed.code, failed.stdout).toBe(1);
    // The gate is part of node-1/start: the start failed, so the state holds no start for node-1.
    expect(failed.stdout).toMatch(/node-1\/start[\s\S]*timed out/);
    expect(stack.exportState().map((r) => r.urn.split("::").at(-1))).not.toContain("node-1/start");
    const ran = stepsThatRan(failed.timeline);
    expect(ran).toContain("db/verify");
    expect(ran.filter((s) => /^node-[23]\//.test(s))).toEqual([]);
    expect(ran).not.toContain("db/contract");
    expect(await haproxyStatus(lab, "node-1")).toMatch(/^MAINT/);
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2023.2", "node-3": "2023.2" });
    expect(dbCheck(lab)).toBe(5); // expanded and migrated; contract pending
    expect(await labTrustSetting(lab)).toBe(trustBefore);

    breakRelease(lab, "node-1", false);
    // Plain Pulumi: the engine and the program only; no driver, so no replace list and no preflight.
    const resumed = await stack.plainUp();
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).not.toContain("[driver]");
    const again = stepsThatRan(resumed.timeline);
    expect(again.slice(0, 2)).toEqual(["node-1/start", "node-1/admit"]);
    for (const finished of stepsThatFinished(failed.timeline).filter((s) => s !== "node-1/start")) {
      expect(again, `${finished} finished in the failed run and must not run again`).not.toContain(finished);
    }
    expect(dbCheck(lab)).toBe(0);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    expectZeroFailedRequests(await load.stop(), {
      minRequests: 100,
      haproxyLog: lab,
      drains: [...drainStarts(failed.timeline), ...drainStarts(resumed.timeline)],
    });
  });
});

describe("a later node failing its health gate (fault 2), then a rollback (fault 3)", () => {
  let lab: LabState;
  let stack: TestStack;
  let load: RunningLoad;
  let failed: Awaited<ReturnType<TestStack["driver"]>>;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = stackFor(lab, "e2e-fault2");
    load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    breakRelease(lab, "node-2", true);
    failed = await stack.driver("up");
  });
  afterAll(async () => {
    await load?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("halts at node-2's health gate: nothing after it runs and contract does not run", async () => {
    expect(failed.code, failed.stdout).toBe(1);
    const ran = stepsThatRan(failed.timeline);
    expect(ran).toContain("node-1/admit");
    expect(ran.filter((s) => s.startsWith("node-3/"))).toEqual([]);
    expect(ran).not.toContain("fleet/verify");
    expect(ran).not.toContain("db/contract");
    expect(await haproxyStatus(lab, "node-2")).toMatch(/^MAINT/);
  });

  it("rolls back the upgraded nodes one at a time to release A, touching no database step", async () => {
    const rollback = await stack.driver("rollback");
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    const ran = stepsThatRan(rollback.timeline);
    expect(ran.filter((s) => s.startsWith("db/"))).toEqual([]);
    expect(ran).toEqual([
      ...["drain", "stop", "upgrade", "start", "admit"].map((k) => `rollback/node-1/${k}`),
      ...["drain", "stop", "upgrade", "start", "admit"].map((k) => `rollback/node-2/${k}`),
    ]);
    const byStep = spans(rollback.timeline);
    const node1Admitted = byStep.get("rollback/node-1/admit")?.[0]?.end ?? Infinity;
    expect(byStep.get("rollback/node-2/drain")?.[0]?.start).toBeGreaterThanOrEqual(node1Admitted);
    expect(await releases(lab)).toEqual({ "node-1": "2023.2", "node-2": "2023.2", "node-3": "2023.2" });
    for (const node of lab.nodes) expect(await haproxyStatus(lab, node.name)).toMatch(/^UP/);
    // expanded but not contracted: the new code's check still reports contract pending
    expect(dbCheck(lab)).toBe(5);
    expectZeroFailedRequests(await load.stop(), {
      minRequests: 100,
      haproxyLog: lab,
      drains: [...drainStarts(failed.timeline), ...drainStarts(rollback.timeline)],
    });
  });

  it("is refused once contract has run", async () => {
    breakRelease(lab, "node-2", false);
    const done = await stack.driver("up");
    expect(done.code, done.stdout).toBe(0);
    const refused = await stack.driver("rollback");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("refused: db contract has run");
    expect(refused.timeline).toEqual([]);
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2024.1", "node-3": "2024.1" });
  });

  it("refuses a downgrade through up at the preflight, every node still serving the newer release", async () => {
    // Issue 30, finding 10, as an operator tried it: after the contracted upgrade, the older
    // release set as the target (no rollbackTo) and up run. It drained and reinstalled node-1.
    const { rollbackTo: _rollbackTo, ...config } = labStackConfig(lab, {
      transport: "local",
      healthTimeoutSeconds: HEALTH_TIMEOUT_SECONDS,
    });
    stack.rewrite({ ...config, targetRelease: lab.fromRelease, targetVersion: "27.1.1" });
    const refused = await stack.driver("up");
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout).toContain(
      `downgrade refused: targetVersion 27.1.1 (targetRelease ${lab.fromRelease}) is older than what node-1 reports 28.2.0, node-2 reports 28.2.0, node-3 reports 28.2.0`,
    );
    expect(refused.stdout).toContain("`rollback`");
    expect(stepsThatRan(refused.timeline)).toEqual(["preflight"]);
    expect(stepsThatFinished(refused.timeline)).toEqual([]);
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2024.1", "node-3": "2024.1" });
    for (const node of lab.nodes) expect(await haproxyStatus(lab, node.name)).toMatch(/^UP/);
  });

  it("refuses a jump OpenStack does not support, at plan with rollbackTo and at the preflight without", async () => {
    // Issue 34: the fleet runs 2024.1; 2025.2 skips 2025.1 and 2024.1 -> 2025.2 is not SLURP to SLURP.
    const { rollbackTo: _rollbackTo, ...config } = labStackConfig(lab, {
      transport: "local",
      healthTimeoutSeconds: HEALTH_TIMEOUT_SECONDS,
    });
    const jump = { ...config, targetRelease: "2025.2", targetVersion: "31.1.0" };
    const way = "one upgrade each: 2024.1 -> 2025.1 -> 2025.2";

    stack.rewrite({ ...jump, rollbackTo: { release: "2024.1", version: "28.2.0" } });
    const atPlan = await stack.driver("up");
    expect(atPlan.code, atPlan.stdout).not.toBe(0);
    expect(atPlan.stdout + atPlan.stderr).toContain(way);
    expect(stepsThatRan(atPlan.timeline)).toEqual([]);

    stack.rewrite(jump);
    const atPreflight = await stack.driver("up");
    expect(atPreflight.code, atPreflight.stdout).toBe(1);
    expect(atPreflight.stdout).toContain(
      "node-1 reports 28.2.0 (2024.1): 2024.1 -> 2025.2 is not an upgrade",
    );
    expect(atPreflight.stdout).toContain(way);
    expect(stepsThatRan(atPreflight.timeline)).toEqual(["preflight"]);
    expect(stepsThatFinished(atPreflight.timeline)).toEqual([]);
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2024.1", "node-3": "2024.1" });
    for (const node of lab.nodes) expect(await haproxyStatus(lab, node.name)).toMatch(/^UP/);
  });
});

describe("the driver killed in the middle of a node's upgrade (fault 6)", () => {
  let lab: LabState;
  let stack: TestStack;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = stackFor(lab, "e2e-fault6");
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("recover releases the lock and clears pending operations; up then completes without repeating a finished step", async () => {
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    const runDir = path.join(stack.folder, "runs", "killed");
    fs.mkdirSync(runDir, { recursive: true });
    const child = spawn(
      process.execPath,
      [
        path.join(PROJECT_ROOT, "dist", "driver", "cli.js"),
        "up",
        "--stack",
        stack.name,
        "--work-dir",
        stack.folder,
      ],
      { env: { ...stack.env, GRU_RUN_DIR: runDir }, stdio: "ignore", detached: true },
    );
    const timelineFile = path.join(runDir, "timeline.jsonl");
    const deadline = Date.now() + 120_000;
    while (!readTimeline(timelineFile).some((e) => e.event === "start" && e.step === "node-2/stop")) {
      if (Date.now() > deadline) throw new Error("node-2/stop never started");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    process.kill(-(child.pid ?? 0), "SIGKILL");
    await new Promise((resolve) => child.on("close", resolve));
    const killed = readTimeline(timelineFile);

    const blocked = await stack.driver("up");
    expect(blocked.code).toBe(1);
    expect(blocked.stdout + blocked.stderr).toMatch(/locked/);

    const recover = await stack.driver("recover");
    expect(recover.code, recover.stdout + recover.stderr).toBe(0);
    expect(recover.stdout).toMatch(/released the lock of pid \d+/);

    const resumed = await stack.driver("up");
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const again = stepsThatRan(resumed.timeline);
    for (const finished of stepsThatFinished(killed)) {
      expect(again, `${finished} finished before the kill and must not run again`).not.toContain(finished);
    }
    expect(again).toContain("db/contract");
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2024.1", "node-3": "2024.1" });
    expectZeroFailedRequests(await load.stop(), {
      minRequests: 100,
      haproxyLog: lab,
      drains: [...drainStarts(killed), ...drainStarts(resumed.timeline)],
    });
  });
});

/** True once no process holds the node's schema lock (the killed run's glance-manage has ended). */
function schemaLockFree(lab: LabState): boolean {
  const file = schemaLockFile({ host: "127.0.0.1", port: lab.ports.mariadb, name: LAB_CREDENTIALS.database });
  return spawnSync("flock", ["-n", file, "true"]).status === 0;
}

describe("the driver killed during db/contract, then recover and rollback (issue 30, finding 4)", () => {
  let lab: LabState;
  let stack: TestStack;

  beforeAll(async () => {
    lab = await freshLab(2);
    stack = stackFor(lab, "e2e-contract-kill");
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("rollback is refused, naming the restore from the backup; up then finishes the contract", async () => {
    const runDir = path.join(stack.folder, "runs", "killed");
    fs.mkdirSync(runDir, { recursive: true });
    const child = spawn(
      process.execPath,
      [
        path.join(PROJECT_ROOT, "dist", "driver", "cli.js"),
        "up",
        "--stack",
        stack.name,
        "--work-dir",
        stack.folder,
      ],
      { env: { ...stack.env, GRU_RUN_DIR: runDir }, stdio: "ignore", detached: true },
    );
    const timelineFile = path.join(runDir, "timeline.jsonl");
    const deadline = Date.now() + 300_000;
    while (!readTimeline(timelineFile).some((e) => e.event === "start" && e.step === "db/contract")) {
      if (Date.now() > deadline) throw new Error("db/contract never started");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    process.kill(-(child.pid ?? 0), "SIGKILL");
    await new Promise((resolve) => child.on("close", resolve));
    expect(readTimeline(timelineFile).some((e) => e.step === "db/contract" && e.event !== "start")).toBe(
      false,
    );

    const recover = await stack.driver("recover");
    expect(recover.code, recover.stdout + recover.stderr).toBe(0);
    expect(recover.stdout).toContain("cleared pending creating of db/contract");
    expect(recover.stdout).toContain("`rollback` stays refused");

    const refused = await stack.driver("rollback");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("refused: db contract for 2024.1 started and did not finish");
    expect(refused.stdout).toContain("Restore the pre-upgrade backup");
    expect(refused.timeline).toEqual([]);
    expect(await releases(lab)).toEqual({ "node-1": "2024.1", "node-2": "2024.1" });

    // The killed run's glance-manage db contract was not killed with it; up waits for it to end.
    const lockDeadline = Date.now() + 120_000;
    while (!schemaLockFree(lab)) {
      if (Date.now() > lockDeadline) throw new Error("the killed run's glance-manage never ended");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const resumed = await stack.driver("up");
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(stepsThatRan(resumed.timeline)).toContain("db/contract");
    expect(dbCheck(lab)).toBe(0);
  });
});
