/**
 * Every Glance release the lab installs runs as a lab node: with that release's config, `glance-manage
 * db` works against the lab's MariaDB and the API answers (lists, and serves the seed images intact).
 *
 * The SLURP releases (2023.1, 2024.1, 2025.1, 2026.1) run as one chain on one lab, each hop a
 * skip-level upgrade of the schema with the NEW release's glance-manage (check, expand, migrate,
 * check, contract, check): 2023.1 -> 2024.1 has the one schema migration of the range
 * (2024_1_expand01_add_cache_tables), the later hops none. The last hop ends the node under uWSGI.
 * Every other installed release gets a fresh lab of its own (`db sync` of that release).
 *
 * Each release's rendered config is checked against that release's own option list
 * (oslo-config-validator), with a negative control: `location_strategy`, removed in 2025.1.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitNodeHealthy } from "../../lab/glanceNode";
import { type LabState, labDown, labUp, runGlanceNode } from "../../lab/lab";
import { RELEASES, releaseInfo } from "../../lab/releases";
import { findFreePort, findFreePortRun } from "../../lab/services/ports";
import { LAB_IDENTITY_HEADERS, nodePortRun } from "../../lab/state";
import { installedGlanceVersion, requireVenv } from "../../lab/venvs";
import { sha256Of } from "../support/labFixture";

/** The SLURP chain: what scripts/setup.sh installs for this test. */
const SLURP = ["2023.1", "2024.1", "2025.1", "2026.1"];
/** The options a release's sample lists do not hold but its code registers at import (web-download imports). */
const REGISTERED_AT_IMPORT = ["import_filtering_opts/allowed_ports"];
const VALIDATOR_NAMESPACES = [
  "glance.api",
  "glance.store",
  "oslo.db",
  "oslo.log",
  "oslo.policy",
  "oslo.middleware.healthcheck",
];

const installed = Object.keys(RELEASES).filter(
  (release) => installedGlanceVersion(release) === releaseInfo(release).glanceVersion,
);
const others = installed.filter((release) => !SLURP.includes(release));

async function freshLab(fromRelease: string, toRelease: string): Promise<LabState> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-releases-"));
  return labUp({
    dir,
    nodes: 1,
    fromRelease,
    toRelease,
    ports: {
      mariadb: await findFreePort(),
      haproxyFrontend: await findFreePort(),
      haproxyRuntimeTcp: 0,
      firstNode: await findFreePortRun(nodePortRun(1)),
    },
    log: (line) => console.log(`[lab ${fromRelease}] ${line}`),
  });
}

async function removeLab(lab: LabState | undefined): Promise<void> {
  if (lab === undefined) return;
  await labDown(lab.dir, { purge: true, log: () => undefined });
  fs.rmSync(lab.dir, { recursive: true, force: true });
}

async function glanceNode(lab: LabState, ...args: string[]): Promise<string> {
  const result = await runGlanceNode(lab.dir, args);
  expect(result.code, `glance-node ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

async function dbCheck(lab: LabState): Promise<number> {
  return (await runGlanceNode(lab.dir, ["manage", "node-1", "db", "check"])).code;
}

function listImageIds(url: string): Promise<{ status: number; ids: string[] }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/v2/images`, { agent: false, headers: LAB_IDENTITY_HEADERS, timeout: 10_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          const ids =
            res.statusCode === 200
              ? (JSON.parse(body) as { images: { id: string }[] }).images.map((i) => i.id)
              : [];
          resolve({ status: res.statusCode ?? 0, ids });
        });
      })
      .on("error", reject);
  });
}

/** The node runs `release` (under `server`), and its API lists and serves the seed images intact. */
async function expectNodeServes(lab: LabState, release: string, server: string): Promise<void> {
  const node = lab.nodes[0];
  expect(await glanceNode(lab, "status", node.name)).toBe("running");
  expect(await glanceNode(lab, "version", node.name)).toBe(releaseInfo(release).glanceVersion);
  expect(await glanceNode(lab, "server", node.name)).toBe(server);
  const listed = await listImageIds(`http://${node.address}`);
  expect(listed.status).toBe(200);
  expect(lab.seedImages.length).toBeGreaterThan(0);
  for (const image of lab.seedImages) {
    expect(listed.ids).toContain(image.id);
    expect(await sha256Of(`http://${node.address}/v2/images/${image.id}/file`)).toBe(image.sha256);
  }
}

/** What the release's own option list does not hold, among the options the conf sets. */
function unknownOptions(lab: LabState, release: string, extra = ""): string[] {
  const venv = lab.releases[release].venv;
  const conf = path.join(lab.nodes[0].dir, release, "glance-api.conf");
  const input = extra === "" ? conf : path.join(lab.dir, `validate-${release}.conf`);
  if (extra !== "")
    fs.writeFileSync(
      input,
      `${fs.readFileSync(conf, "utf8").replace("[DEFAULT]\n", `[DEFAULT]\n${extra}\n`)}`,
    );
  const result = spawnSync(
    path.join(venv, "bin", "oslo-config-validator"),
    ["--input-file", input, ...VALIDATOR_NAMESPACES.flatMap((ns) => ["--namespace", ns])],
    { encoding: "utf8", timeout: 60_000 },
  );
  const unknown = [...result.stderr.matchAll(/ERROR:root:(\S+) is not part of the sample config/g)].map(
    (m) => m[1],
  );
  // Exit 1 exactly when it found something; anything else (a crash) is not an answer.
  expect(result.status, result.stderr).toBe(unknown.length > 0 ? 1 : 0);
  return unknown;
}

describe("the SLURP chain on one lab node: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1 (under uWSGI)", () => {
  let lab: LabState | undefined;
  const current = (): LabState => {
    if (lab === undefined) throw new Error("the lab did not come up");
    return lab;
  };

  beforeAll(async () => {
    for (const release of SLURP) requireVenv(release); // else: run "bash scripts/setup-glance.sh <release>"
    lab = await freshLab("2023.1", "2026.1");
  });
  afterAll(() => removeLab(lab));

  it("2023.1: its db sync made the schema, db check says 0, the node serves", async () => {
    expect(await dbCheck(current())).toBe(0);
    await expectNodeServes(current(), "2023.1", "eventlet");
  });

  /** A skip-level hop of the node, schema included, with the new release's glance-manage. */
  async function hop(to: string, expectedChecks: number[], server: "eventlet" | "uwsgi"): Promise<void> {
    const l = current();
    const node = l.nodes[0];
    await glanceNode(l, "stop", node.name);
    await glanceNode(l, "switch", node.name, to);
    await glanceNode(l, "server", node.name, server);
    const checks = [await dbCheck(l)];
    await glanceNode(l, "manage", node.name, "db", "expand");
    await glanceNode(l, "manage", node.name, "db", "migrate");
    checks.push(await dbCheck(l));
    await glanceNode(l, "manage", node.name, "db", "contract");
    checks.push(await dbCheck(l));
    expect(checks, `db check before expand, after migrate, after contract (glance-manage of ${to})`).toEqual(
      expectedChecks,
    );
    await glanceNode(l, "start", node.name);
    await waitNodeHealthy(node);
    await expectNodeServes(l, to, server);
  }

  it("2023.1 -> 2024.1: expand needed (3), migrate leaves contract (5), contract ends it (0)", async () => {
    await hop("2024.1", [3, 5, 0], "eventlet");
  });

  it("2024.1 -> 2025.1: no schema change (0 throughout), every glance-manage step still answers", async () => {
    await hop("2025.1", [0, 0, 0], "eventlet");
  });

  it("2025.1 -> 2026.1, moving the node from the eventlet server to uWSGI: 0 throughout", async () => {
    await hop("2026.1", [0, 0, 0], "uwsgi");
    const log = fs.readFileSync(path.join(current().nodes[0].dir, "glance-api.log"), "utf8");
    expect(log).toContain("spawned uWSGI worker 1");
  });

  it("each SLURP release's config holds only options that release reads", () => {
    for (const release of SLURP)
      expect(unknownOptions(current(), release), release).toEqual(REGISTERED_AT_IMPORT);
  });

  it("negative control: location_strategy, removed in 2025.1, is reported there and not in 2024.1", () => {
    const option = "location_strategy = store_type";
    expect(unknownOptions(current(), "2025.1", option)).toContain("DEFAULT/location_strategy");
    expect(unknownOptions(current(), "2024.1", option)).not.toContain("DEFAULT/location_strategy");
  });
});

describe.each(others)("release %s on a lab of its own", (release) => {
  let lab: LabState | undefined;
  const current = (): LabState => {
    if (lab === undefined) throw new Error("the lab did not come up");
    return lab;
  };

  beforeAll(async () => {
    lab = await freshLab(release, release);
  });
  afterAll(() => removeLab(lab));

  it("db sync made the schema, db check says 0, the node serves; its config holds only options it reads", async () => {
    expect(await dbCheck(current())).toBe(0);
    await expectNodeServes(current(), release, "eventlet");
    expect(unknownOptions(current(), release)).toEqual(REGISTERED_AT_IMPORT);
  });

  // Where the table installs uWSGI beside Glance (releases with the glance.wsgi.api module).
  if (releaseInfo(release).wsgiServer !== undefined) {
    it("the node serves under uWSGI too", async () => {
      const node = current().nodes[0];
      await glanceNode(current(), "stop", node.name);
      await glanceNode(current(), "server", node.name, "uwsgi");
      await glanceNode(current(), "start", node.name);
      await waitNodeHealthy(node);
      await expectNodeServes(current(), release, "uwsgi");
    });
  }
});

it("installs every release it knows or says which it does not", () => {
  const missing = Object.keys(RELEASES).filter((release) => !installed.includes(release));
  console.log(`releases installed: ${installed.join(", ")}; not installed: ${missing.join(", ") || "none"}`);
  for (const release of SLURP) expect(installed).toContain(release);
});
