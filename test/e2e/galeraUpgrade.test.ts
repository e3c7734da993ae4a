/**
 * The rehearsal's program path (the driver, real Pulumi engine) on the Galera lab: 3 real Glance nodes
 * upgraded A -> B under continuous client load, their database a 3-member MariaDB Galera cluster
 * behind an HAProxy front (db-1 active, db-2 and db-3 backup) that the nodes, glance-manage and the
 * program's own connections go through. Expand, migrate and contract replicate to every member in
 * total order; the clients must not see it. A probe committing on a member the front does not send
 * Glance to reads how long each schema step held the cluster (lab/services/galeraHold.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { galeraMemberCommand } from "../../lab/galeraLab";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad, LoadReport } from "../../lab/load/client";
import type { GaleraMember } from "../../lab/services/galera";
import {
  describeHold,
  HoldProbe,
  measureHolds,
  ProbeCommit,
  probeBaseline,
  startHoldProbe,
} from "../../lab/services/galeraHold";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { LAB_CREDENTIALS, readLabState } from "../../lab/state";
import { DriverRun, TestStack } from "../support/driverFixture";
import { invariantViolations } from "../support/invariants";
import { freshLab, removeLab, sha256Of } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";
import { latestTimeline, pollFor, sleep } from "../support/faultTools";
import { silentContext } from "../../steps/context";
import { runtimeCommand } from "../../steps/lb/haproxyRuntime";
import { allowOnMembers, restoreOnMembers } from "../../steps/db/memberTrust";

const NODES = 3;
const SCHEMA_STEPS = ["db/expand", "db/migrate", "db/contract"];
const LOAD_WARMUP_MS = 3_000;
const SAMPLE_MS = 500;

interface MemberSample {
  at: number;
  member: string;
  state: string;
  cluster: string;
  size: number;
  trust: string;
}

async function sampleMember(member: GaleraMember): Promise<MemberSample> {
  const at = Date.now();
  try {
    const conn = await mysql.createConnection({
      host: "127.0.0.1",
      port: member.port,
      ...LAB_CREDENTIALS.admin,
      // A member that is down refuses at once; a longer wait only covers this test process starved of
      // CPU on a shared machine (2 s gave "connect ETIMEDOUT" while every member served).
      connectTimeout: 10_000,
    });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size')",
      );
      const status = Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
      const [trust] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT @@GLOBAL.log_bin_trust_function_creators AS v",
      );
      return {
        at,
        member: member.name,
        state: status.wsrep_local_state_comment,
        cluster: status.wsrep_cluster_status,
        size: Number(status.wsrep_cluster_size),
        trust: String(trust[0].v),
      };
    } finally {
      await conn.end();
    }
  } catch (err) {
    return {
      at,
      member: member.name,
      state: `unreachable: ${(err as Error).message}`,
      cluster: "",
      size: 0,
      trust: "",
    };
  }
}

/** Every member's wsrep state and setting, twice a second, until stopped. */
function startSampler(members: GaleraMember[]): { stop(): Promise<MemberSample[]> } {
  const samples: MemberSample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(...(await Promise.all(members.map(sampleMember))));
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** The member a new connection through the lab's HAProxy front reaches. */
async function nodeBehindFrontOf(lab: LabState): Promise<string> {
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port: lab.galera?.haproxy.port ?? 0,
    ...LAB_CREDENTIALS.glance,
  });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT @@wsrep_node_name AS node");
    return String(rows[0].node);
  } finally {
    await conn.end();
  }
}

function stepWindow(run: DriverRun, step: string): { from: number; to: number; seconds: number } | undefined {
  const start = run.timeline.find((e) => e.step === step && e.event === "start");
  const end = run.timeline.find((e) => e.step === step && e.event !== "start");
  if (start === undefined || end === undefined) return undefined;
  const from = Date.parse(start.at);
  const to = Date.parse(end.at);
  return { from, to, seconds: (to - from) / 1000 };
}

describe("rehearsal through the driver on the Galera lab", () => {
  let lab: LabState;
  let members: GaleraMember[];
  let stack: TestStack;
  let run: DriverRun;
  let refused: DriverRun;
  let load: LoadReport;
  let samples: MemberSample[];
  let trustBefore: Record<string, string>;
  let labUpMs = 0;
  let frontActive = "";
  let holdProbe: HoldProbe;
  let probeCommits: ProbeCommit[];
  let probeOwnMs = 0;

  beforeAll(async () => {
    const started = Date.now();
    lab = await freshLab(NODES, () => undefined, { galera: true });
    labUpMs = Date.now() - started;
    members = lab.galera?.cluster.members ?? [];
    trustBefore = Object.fromEntries(
      (await Promise.all(members.map(sampleMember))).map((s) => [s.member, s.trust]),
    );
    const config = labStackConfig(lab, { transport: "local" });
    const database = config.database as Record<string, unknown>;
    stack = TestStack.unique(
      "e2e-galera",
      // The program reaches the cluster through the front; the preflight checks each member directly.
      { ...config, database: { ...database, galeraMembers: members.map((m) => `127.0.0.1:${m.port}`) } },
      LAB_SECRETS,
    );
    // A degraded cluster first: db-3 stopped. The preflight must refuse it, and nothing change.
    await galeraMemberCommand(lab.dir, "stop", "db-3");
    refused = await stack.driver("up");
    await galeraMemberCommand(lab.dir, "start", "db-3");
    // The hold probe commits on a member the front does not send Glance to: the DDL runs elsewhere.
    const probeStarted = Date.now();
    frontActive = await nodeBehindFrontOf(lab);
    const probeMember = members.find((m) => m.name !== frontActive) ?? members[1];
    holdProbe = await startHoldProbe({ host: "127.0.0.1", port: probeMember.port, ...LAB_CREDENTIALS.admin });
    probeOwnMs = Date.now() - probeStarted;
    const sampler = startSampler(members);
    const client = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
    run = await stack.driver("up");
    await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
    load = await client.stop();
    samples = await sampler.stop();
    const probeStopping = Date.now();
    probeCommits = await holdProbe.stop();
    probeOwnMs += Date.now() - probeStopping;
  });

  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("refused the upgrade while db-3 was down, naming it and what the others saw, and changed nothing", () => {
    const output = refused.stdout + refused.stderr;
    expect(refused.code, output).not.toBe(0);
    expect(output).toContain("the Galera cluster is degraded");
    expect(output).toContain(`127.0.0.1:${members[2].port} is unreachable`);
    expect(output).toMatch(/\(db-1\): it sees a cluster of 2, not the 3 member\(s\) named/);
    expect(output).toContain("nothing was changed");
    expect(new Set(refused.timeline.map((e) => e.step))).toEqual(new Set(["preflight"]));
  });

  it("upgrades 3 nodes A -> B on a Galera cluster under load with 0 failed requests", async () => {
    process.stderr.write(`[galera-e2e] lab up with the Galera cluster and 3 nodes: ${labUpMs} ms\n`);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // The preflight read every member, each at its own address.
    const progress = fs.readFileSync(path.join(run.runDir, "progress.jsonl"), "utf8");
    for (const m of members)
      expect(progress).toContain(`127.0.0.1:${m.port} (${m.name}): Synced, Primary, size 3, ready`);
    expectZeroFailedRequests(load, {
      minRequests: 1_500,
      haproxyLog: lab,
      drains: drainStarts(run.timeline),
      label: "Galera lab",
    });
    for (const node of lab.nodes) {
      const version = await runGlanceNode(lab.dir, ["version", node.name]);
      expect(version.stdout.trim(), `${node.name} version`).toBe("28.2.0");
    }
    const check = await runGlanceNode(lab.dir, ["manage", lab.nodes[0].name, "db", "check"]);
    expect(check.code, `db check (new code): ${check.stdout}${check.stderr}`).toBe(0);
    for (const image of lab.seedImages) {
      expect(await sha256Of(`${lab.haproxy.frontendUrl}/v2/images/${image.id}/file`)).toBe(image.sha256);
    }
    expect(
      invariantViolations(run.timeline, {
        newNode: "node-1",
        waves: [["node-2"], ["node-3"]],
        minHealthyInRotation: 2,
      }),
    ).toEqual([]);
  });

  it("kept every member Synced in a Primary component of 3 throughout, and the schema is the same on each", async () => {
    const windows = Object.fromEntries(
      ["db/expand", "db/migrate", "db/contract"].map((step) => [step, stepWindow(run, step)]),
    );
    process.stderr.write(
      `[galera-e2e] schema step durations (whole steps, not the DDL alone): ${Object.entries(windows)
        .map(([step, w]) => `${step} ${w?.seconds.toFixed(1) ?? "?"} s`)
        .join(", ")}\n`,
    );
    const during = samples.filter((s) =>
      Object.values(windows).some((w) => w !== undefined && s.at >= w.from && s.at <= w.to),
    );
    const trustDuring = Object.fromEntries(
      members.map((m) => [
        m.name,
        [...new Set(during.filter((s) => s.member === m.name).map((s) => s.trust))],
      ]),
    );
    process.stderr.write(
      `[galera-e2e] ${samples.length} member samples; log_bin_trust_function_creators seen during the schema steps: ${JSON.stringify(trustDuring)}\n`,
    );
    expect(samples.length).toBeGreaterThan(members.length * 10);
    const unhealthy = samples.filter((s) => s.state !== "Synced" || s.cluster !== "Primary" || s.size !== 3);
    expect(unhealthy).toEqual([]);
    // Every member has the new schema (the contract head included).
    const current = readLabState(lab.dir)?.galera?.cluster.members ?? [];
    const heads: string[] = [];
    for (const m of current) {
      const conn = await mysql.createConnection({
        host: "127.0.0.1",
        port: m.port,
        ...LAB_CREDENTIALS.admin,
      });
      try {
        await conn.query("SET SESSION wsrep_sync_wait = 1");
        const [rows] = await conn.query<mysql.RowDataPacket[]>(
          "SELECT version_num FROM glance.alembic_version ORDER BY version_num",
        );
        heads.push(rows.map((r) => String(r.version_num)).join(","));
      } finally {
        await conn.end();
      }
    }
    expect(new Set(heads).size, `alembic heads per member: ${heads.join(" | ")}`).toBe(1);
  });

  it("measured how long each schema step's DDL held the cluster, from a member the DDL was not sent to", () => {
    const windows = SCHEMA_STEPS.map((step) => {
      const w = stepWindow(run, step);
      if (w === undefined) throw new Error(`no ${step} start and end in the timeline`);
      return { name: step, from: w.from, to: w.to };
    });
    const holds = measureHolds(probeCommits, windows);
    const runStart = Date.parse(run.timeline[0].at);
    const runEnd = Date.parse(run.timeline[run.timeline.length - 1].at);
    const [outside] = measureHolds(
      probeCommits.filter((c) => !windows.some((w) => c.at <= w.to && c.at + c.ms >= w.from)),
      [{ name: "the run outside the schema steps", from: runStart, to: runEnd }],
      { baselineMs: probeBaseline(probeCommits, windows) },
    );
    process.stderr.write(
      `[galera-e2e] hold probe on ${holdProbe.node} (wsrep_OSU_method ${holdProbe.osuMethod}; the front sends Glance to ${frontActive}), ` +
        `${probeCommits.length} commits (its start and stop took ${probeOwnMs} ms):\n${[...holds, outside].map((h) => `  ${describeHold(h)}`).join("\n")}\n`,
    );
    expect(holdProbe.node).not.toBe(frontActive);
    expect(holdProbe.osuMethod).toBe("TOI");
    // The cluster accepted writes throughout: no probe write failed, and one committed within each step.
    expect(probeCommits.filter((c) => c.error !== undefined)).toEqual([]);
    for (const h of holds) {
      const stepMs = h.to - h.from;
      expect(h.committedInside, `${h.name}: probe commits within the step`).toBeGreaterThan(0);
      // A hold longer than the step would be something other than the step's DDL holding the cluster.
      expect(h.longestStallMs, `${h.name}: longest stall vs the step's ${stepMs} ms`).toBeLessThanOrEqual(
        stepMs,
      );
      expect(h.heldMs, `${h.name}: held vs the step's ${stepMs} ms`).toBeLessThanOrEqual(stepMs);
    }
  });

  it("leaves log_bin_trust_function_creators at its prior value on every member", async () => {
    const after = Object.fromEntries(
      (await Promise.all(members.map(sampleMember))).map((s) => [s.member, s.trust]),
    );
    expect(after).toEqual(trustBefore);
  });

  it("set the setting to 1 on every member for the schema steps, backed up from a named member, and summarised each member", () => {
    const windows = ["db/expand", "db/migrate", "db/contract"].map((step) => stepWindow(run, step));
    expect(windows.every((w) => w !== undefined)).toBe(true);
    const during = samples.filter((s) =>
      windows.some((w) => w !== undefined && s.at >= w.from && s.at <= w.to),
    );
    for (const m of members) {
      const seen = during.filter((s) => s.member === m.name);
      expect(seen.length, `${m.name} samples during the schema steps`).toBeGreaterThan(0);
      expect([...new Set(seen.map((s) => s.trust))], `${m.name} during the schema steps`).toEqual(["1"]);
    }
    expect(Object.values(trustBefore)).toEqual(["0", "0", "0"]);
    const output = run.stdout + run.stderr;
    expect(output).toMatch(
      new RegExp(`backup\\s.*member=127\\.0\\.0\\.1:${members[0].port} \\(db-1\\): Synced`),
    );
    // The summary's Galera section: each member before (the preflight's reading) and after (db/restore-setting's).
    const section = output.slice(output.lastIndexOf("Galera members before:"));
    const [before, after] = section.split("Galera members after:");
    expect(after, "the summary's Galera section").toBeDefined();
    for (const m of members) {
      const line = `127.0.0.1:${m.port} (${m.name}): Synced, Primary, size 3, ready, log_bin_trust_function_creators=0`;
      expect(before, `${m.name} before`).toContain(line);
      expect(after.split("\n\n")[0], `${m.name} after`).toContain(line);
    }
  });

  describe("per-member setting: negative control, then a member killed after expand and one down at the restore", () => {
    const PROBE_TABLE = "gru_trigger_probe";
    const TRIGGER = `CREATE TRIGGER ${PROBE_TABLE}_bi BEFORE INSERT ON ${PROBE_TABLE} FOR EACH ROW SET NEW.note = 'probe'`;
    let frontNode = "";
    let failedWith = "";
    let passedOnNode = "";
    const replicatedTo: string[] = [];
    let faultRun: DriverRun;
    let rerun: DriverRun;
    let faultLoad: LoadReport;
    let faultSamples: MemberSample[];
    let killedAt = 0;
    let rejoinedAt = 0;
    let stoppedAt = 0;
    let afterFailure: Record<string, string> = {};
    let db3Restarted = "";
    let faultMs = 0;
    let faultProgress = "";
    let controlMs = 0;

    const adminOn = (port: number) =>
      mysql.createConnection({ host: "127.0.0.1", port, ...LAB_CREDENTIALS.admin });
    const glanceThroughFront = () =>
      mysql.createConnection({
        host: "127.0.0.1",
        port: lab.galera?.haproxy.port ?? 0,
        ...LAB_CREDENTIALS.glance,
        database: LAB_CREDENTIALS.database,
      });
    const front = (command: string) => runtimeCommand(lab.galera?.haproxy.runtimeApi ?? "", command);
    async function nodeBehindFront(): Promise<string> {
      const conn = await glanceThroughFront();
      try {
        const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT @@wsrep_node_name AS node");
        return String(rows[0].node);
      } finally {
        await conn.end();
      }
    }
    const endpointOf = (user: { user: string; password: string }) => ({
      host: "127.0.0.1",
      port: lab.galera?.haproxy.port ?? 0,
      ...user,
      database: LAB_CREDENTIALS.database,
    });
    const memberAddresses = () => members.map((m) => ({ host: "127.0.0.1", port: m.port }));

    beforeAll(async () => {
      // The negative control: the setting on db-1 only (as one SET GLOBAL through the VIP leaves it),
      // glance-manage's connection routed to db-2, and a trigger-creating DDL of our own (Glance's
      // migrations from 2023.1 on create no trigger).
      const started = Date.now();
      const admin1 = await adminOn(members[0].port);
      try {
        await admin1.query(`CREATE TABLE glance.${PROBE_TABLE} (id INT PRIMARY KEY, note VARCHAR(20))`);
        await admin1.query("SET GLOBAL log_bin_trust_function_creators = 1");
      } finally {
        await admin1.end();
      }
      await front("set server galera/db-1 state maint");
      await pollFor(
        "the front to route new connections to db-2",
        async () => (await nodeBehindFront()) === "db-2",
        {
          timeoutMs: 10_000,
        },
      );
      const glance = await glanceThroughFront();
      try {
        const [rows] = await glance.query<mysql.RowDataPacket[]>("SELECT @@wsrep_node_name AS node");
        frontNode = String(rows[0].node);
        await glance.query(TRIGGER).catch((err: { errno?: number; message?: string }) => {
          failedWith = `${err.errno}: ${err.message}`;
        });
      } finally {
        await glance.end();
      }
      // The program's per-member handling, then the same statement through the same route.
      await allowOnMembers(
        {
          glance: endpointOf(LAB_CREDENTIALS.glance),
          admin: endpointOf(LAB_CREDENTIALS.admin),
          members: memberAddresses(),
        },
        silentContext,
      );
      const again = await glanceThroughFront();
      try {
        const [rows] = await again.query<mysql.RowDataPacket[]>("SELECT @@wsrep_node_name AS node");
        passedOnNode = String(rows[0].node);
        await again.query(TRIGGER);
      } finally {
        await again.end();
      }
      for (const m of members) {
        const conn = await adminOn(m.port);
        try {
          await conn.query("SET SESSION wsrep_sync_wait = 1");
          const [rows] = await conn.query<mysql.RowDataPacket[]>(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'glance'",
          );
          if (rows.some((r) => String(r.TRIGGER_NAME) === `${PROBE_TABLE}_bi`)) replicatedTo.push(m.name);
        } finally {
          await conn.end();
        }
      }
      const cleanup = await adminOn(members[0].port);
      try {
        await cleanup.query(`DROP TABLE glance.${PROBE_TABLE}`);
      } finally {
        await cleanup.end();
      }
      await restoreOnMembers(
        { admin: endpointOf(LAB_CREDENTIALS.admin), members: memberAddresses(), previousOf: () => false },
        silentContext,
      );
      await front("set server galera/db-1 state ready");
      await pollFor("the front to route to db-1 again", async () => (await nodeBehindFront()) === "db-1", {
        timeoutMs: 15_000,
      });
      controlMs = Date.now() - started;

      // The faults: the same upgrade by a stack of its own (nodes already on B: every step runs, the
      // schema steps find nothing to do), under load. db-2 is killed as db/expand ends and started
      // again (it comes back at its configured 0); db-3 is stopped as fleet/verify starts, so it is
      // down when db/restore-setting runs.
      const faultStarted = Date.now();
      const config = labStackConfig(lab, { transport: "local" });
      const faultStack = TestStack.unique(
        "e2e-galera-faults",
        {
          ...config,
          database: {
            ...(config.database as Record<string, unknown>),
            galeraMembers: members.map((m) => `127.0.0.1:${m.port}`),
          },
          backup: { type: "mysqldump", path: path.join(lab.dir, "backups", "faults-{release}.sql") },
        },
        LAB_SECRETS,
      );
      try {
        const sampler = startSampler(members);
        const client = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
        await sleep(LOAD_WARMUP_MS);
        let runDone = false;
        const running = faultStack.driver("up").finally(() => {
          runDone = true;
        });
        const ended = (step: string, event: string) =>
          latestTimeline(faultStack.folder).some((e) => e.step === step && e.event === event);
        await pollFor("db/expand to end", () => ended("db/expand", "end"), {
          timeoutMs: 300_000,
          giveUp: () => runDone,
        });
        await galeraMemberCommand(lab.dir, "kill", "db-2");
        killedAt = Date.now();
        await galeraMemberCommand(lab.dir, "start", "db-2");
        rejoinedAt = Date.now();
        await pollFor("fleet/verify to start", () => ended("fleet/verify", "start"), {
          timeoutMs: 300_000,
          giveUp: () => runDone,
        });
        await galeraMemberCommand(lab.dir, "stop", "db-3");
        stoppedAt = Date.now();
        faultRun = await running;
        faultProgress = fs.readFileSync(path.join(faultRun.runDir, "progress.jsonl"), "utf8");
        afterFailure = Object.fromEntries(
          (await Promise.all(members.slice(0, 2).map(sampleMember))).map((s) => [s.member, s.trust]),
        );
        await galeraMemberCommand(lab.dir, "start", "db-3");
        db3Restarted = (await sampleMember(members[2])).trust;
        rerun = await faultStack.driver("up");
        await sleep(LOAD_WARMUP_MS);
        faultLoad = await client.stop();
        faultSamples = await sampler.stop();
      } finally {
        faultStack.remove();
      }
      faultMs = Date.now() - faultStarted;
      process.stderr.write(
        `[galera-e2e] negative control ${controlMs} ms; fault run and rerun ${faultMs} ms ` +
          `(db-2 killed and back Synced in ${rejoinedAt - killedAt} ms)\n`,
      );
    });

    it("negative control: the setting on db-1 only, the DDL routed to db-2 fails with ERROR 1419; per member it passes", () => {
      expect(frontNode).toBe("db-2");
      expect(failedWith).toMatch(/^1419: .*SUPER privilege/);
      expect(passedOnNode).toBe("db-2");
      expect(replicatedTo).toEqual(["db-1", "db-2", "db-3"]);
    });

    it("a member killed after db/expand: re-set before contract; a member down at the restore: the others restored, the step fails naming it, a rerun restores it", () => {
      const output = faultRun.stdout + faultRun.stderr;
      expect(faultRun.code, output).not.toBe(0);
      const db3 = `127.0.0.1:${members[2].port}`;
      expect(output).toContain("but not on 1 unreachable member(s): " + db3);
      expect(output).toContain(`${db3}: SET GLOBAL log_bin_trust_function_creators=0`);
      expect(output).toMatch(/then rerun up: db\/restore-setting runs again/);
      const failed = faultRun.timeline.filter((e) => e.event === "fail").map((e) => e.step);
      expect(failed).toEqual(["db/restore-setting"]);
      expect(faultRun.timeline.some((e) => e.step === "db/contract" && e.event === "end")).toBe(true);
      // fleet/verify found db-2 back at its configured 0 and set it again before contract.
      expect(faultProgress).toContain(
        `Galera member 127.0.0.1:${members[1].port} reads log_bin_trust_function_creators=0 (restarted since db/allow-functions?)`,
      );
      expect(output).toMatch(new RegExp(`fleet/verify\\s.*trustSetAgain=127\\.0\\.0\\.1:${members[1].port}`));
      const contract = stepWindow(faultRun, "db/contract");
      expect(contract).toBeDefined();
      const duringContract = faultSamples.filter(
        (s) => contract !== undefined && s.at >= contract.from && s.at <= contract.to && s.member !== "db-3",
      );
      expect([...new Set(duringContract.map((s) => s.trust))]).toEqual(["1"]);
      // db-1 and db-2 restored by the failed run; db-3 came back at its configured value.
      expect(afterFailure).toEqual({ "db-1": "0", "db-2": "0" });
      expect(db3Restarted).toBe("0");
      // The rerun ran only the failed step and restored every member.
      expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
      expect([...new Set(rerun.timeline.map((e) => e.step))]).toEqual(["db/restore-setting"]);
    });

    it("kept serving throughout (0 failed requests) with a Primary component, and ended Synced, 0 pending, every member at its prior value", async () => {
      expectZeroFailedRequests(faultLoad, {
        minRequests: 1_000,
        haproxyLog: lab,
        drains: drainStarts(faultRun.timeline),
        label: "Galera lab with a member killed and one stopped",
      });
      // Whoever answered was in a Primary component: a member out of it (killed, stopped, joining) is
      // unreachable or not Synced, never a non-Primary member that serves.
      const serving = faultSamples.filter((s) => s.state === "Synced");
      expect(serving.filter((s) => s.cluster !== "Primary")).toEqual([]);
      expect(faultSamples.some((s) => s.at > stoppedAt && s.member === "db-1" && s.size === 2)).toBe(true);
      const end = await Promise.all(members.map(sampleMember));
      expect(end.map((s) => [s.member, s.state, s.cluster, s.size])).toEqual(
        members.map((m) => [m.name, "Synced", "Primary", 3]),
      );
      expect(Object.fromEntries(end.map((s) => [s.member, s.trust]))).toEqual(trustBefore);
      const check = await runGlanceNode(lab.dir, ["manage", lab.nodes[0].name, "db", "check"]);
      expect(check.code, `db check: ${check.stdout}${check.stderr}`).toBe(0);
    });
  });
});
