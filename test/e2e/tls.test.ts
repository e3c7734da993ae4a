/**
 * Database TLS end to end: the lab's MariaDB offers TLS with a CA of its own. With `database.tls` and
 * the wrong `caFile`, the preflight refuses the server's certificate and nothing changes; with the
 * right one, the upgrade runs under load with every database client of the program (the preflight,
 * the MySQL setting, the backup, glance-manage) verifying the server, and the fleet serves throughout.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { ensureServerCertificate } from "../../lab/services/tlsCa";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { TestStack } from "../support/driverFixture";
import { labTrustSetting, sleep } from "../support/faultTools";
import { freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

/** How many TLS handshakes MariaDB has accepted since it started (read as root over its socket). */
async function tlsAccepts(lab: LabState): Promise<number> {
  const conn = await mysql.createConnection({
    socketPath: lab.db.socket,
    user: "root",
    password: fs.readFileSync(lab.db.rootPasswordFile, "utf8").trim(),
  });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'");
    return Number(rows[0]?.Value ?? 0);
  } finally {
    await conn.end();
  }
}

async function releases(lab: LabState): Promise<string[]> {
  return Promise.all(
    lab.nodes.map(async (n) => (await runGlanceNode(lab.dir, ["release", n.name])).stdout.trim()),
  );
}

describe("database TLS, verified against database.caFile", () => {
  let lab: LabState;
  const stacks: TestStack[] = [];

  beforeAll(async () => {
    lab = await freshLab(3);
  });
  afterAll(async () => {
    for (const stack of stacks) stack.remove();
    await removeLab(lab);
  });

  it("a caFile of another CA: the preflight refuses the server's certificate, naming the file, and nothing changes", async () => {
    const otherCa = ensureServerCertificate(path.join(lab.dir, "other-ca"), "not-the-lab").caFile;
    const stack = TestStack.unique(
      "e2e-tls-wrong",
      labStackConfig(lab, { transport: "local", tlsCaFile: otherCa }),
      LAB_SECRETS,
    );
    stacks.push(stack);
    const trustBefore = await labTrustSetting(lab);
    const run = await stack.driver("up");
    expect(run.code, run.stdout + run.stderr).not.toBe(0);
    expect(run.stdout + run.stderr).toContain(
      `the server's TLS certificate did not verify against database.caFile (${otherCa})`,
    );
    expect(run.timeline.filter((e) => e.event === "start").map((e) => e.step)).toEqual(["preflight"]);
    expect(await releases(lab)).toEqual(["2023.2", "2023.2", "2023.2"]);
    expect(await labTrustSetting(lab)).toBe(trustBefore);
    expect(fs.existsSync(path.join(lab.dir, "backups"))).toBe(false);
  });

  it("the lab's CA: the upgrade under load passes with 0 failed requests, every database client over verified TLS", async () => {
    const stack = TestStack.unique(
      "e2e-tls",
      labStackConfig(lab, { transport: "local", tlsCaFile: lab.db.caFile }),
      LAB_SECRETS,
    );
    stacks.push(stack);
    const acceptsBefore = await tlsAccepts(lab);
    const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    await sleep(3_000);
    const run = await stack.driver("up");
    await sleep(3_000);
    const report = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expectZeroFailedRequests(report, {
      minRequests: 500,
      haproxyLog: lab,
      drains: drainStarts(run.timeline),
    });
    expect(await releases(lab)).toEqual(["2024.1", "2024.1", "2024.1"]);
    expect((await runGlanceNode(lab.dir, ["manage", "node-1", "db", "check"])).code).toBe(0);
    // The preflight, the setting, the backup and four glance-manage runs each opened TLS sessions.
    expect((await tlsAccepts(lab)) - acceptsBefore).toBeGreaterThanOrEqual(6);
  });
});
