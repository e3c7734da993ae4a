/**
 * The rehearsal's program path (the driver, real Pulumi engine) on the Galera lab: 3 real Glance nodes
 * upgraded A -> B under continuous client load, their database a 3-member MariaDB Galera cluster
 * behind an HAProxy front (db-1 active, db-2 and db-3 backup) that the nodes, glance-manage and the
 * program's own connections go through. Expand, migrate and contract replicate to every member in
 * total order; the clients must not see it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { galeraMemberCommand } from "../../lab/galeraLab";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad, LoadReport } from "../../lab/load/client";
import type { GaleraMember } from "../../lab/services/galera";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { LAB_CREDENTIALS, readLabState } from "../../lab/state";
import { DriverRun, TestStack } from "../support/driverFixture";
import { invariantViolations } from "../support/invariants";
import { freshLab, removeLab, sha256Of } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const NODES = 3;
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
      connectTimeout: 2_000,
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
    const sampler = startSampler(members);
    const client = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
    run = await stack.driver("up");
    await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
    load = await client.stop();
    samples = await sampler.stop();
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

  it("leaves log_bin_trust_function_creators at its prior value on every member", async () => {
    const after = Object.fromEntries(
      (await Promise.all(members.map(sampleMember))).map((s) => [s.member, s.trust]),
    );
    expect(after).toEqual(trustBefore);
  });
});
