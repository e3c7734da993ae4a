/**
 * The lab's realistic upgrade mode ("wheelhouse"), on a 2-node lab of real Glance: a node's release is
 * pip-installed offline from the release's wheelhouse into the node's own environment, and
 * `glance-node prestage` does that ahead while the node serves, so the upgrade's install only
 * switches. Measured here: install without prestage (a real build) against install after it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpStatus, waitNodeHealthy } from "../../lab/glanceNode";
import { LabState, runGlanceNode } from "../../lab/lab";
import { releaseInfo } from "../../lab/releases";
import { requireVenv, requireWheelhouse } from "../../lab/venvs";
import { freshLab, removeLab } from "../support/labFixture";

const FROM = "2023.2";
const TO = "2024.1";
const OLD = releaseInfo(FROM).glanceVersion;
const NEW = releaseInfo(TO).glanceVersion;
/** Installing Glance and its ~115 packages takes ~25 s here; anything under this is no real install. */
const BUILD_FLOOR_MS = 5_000;
const STEP_TIMEOUT_MS = 300_000;

let lab: LabState;
const figures: Record<string, number> = {};

async function timed(...args: string[]): Promise<{ code: number; stderr: string; ms: number }> {
  const started = Date.now();
  const result = await runGlanceNode(lab.dir, args, STEP_TIMEOUT_MS);
  return { code: result.code, stderr: result.stderr, ms: Date.now() - started };
}

async function glanceNode(...args: string[]): Promise<string> {
  const result = await runGlanceNode(lab.dir, args, STEP_TIMEOUT_MS);
  expect(result.code, `glance-node ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

function node(name: string) {
  const found = lab.nodes.find((n) => n.name === name);
  if (found === undefined) throw new Error(`no ${name} in the lab`);
  return found;
}

/** The program glance-api runs from (the node's own environment or the shared venv). */
function runningExecutable(name: string): string {
  const pid = fs.readFileSync(path.join(node(name).dir, "glance-api.pid"), "utf8").trim();
  return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[1] ?? "";
}

const ownEnv = (name: string, release: string) => path.join(node(name).dir, "envs", release);

beforeAll(async () => {
  requireVenv(FROM); // each fails with: run "bash scripts/setup-..." first
  requireVenv(TO);
  requireWheelhouse(FROM);
  requireWheelhouse(TO);
  lab = await freshLab(2, () => undefined, { upgradeMode: "wheelhouse" });
}, STEP_TIMEOUT_MS);

afterAll(async () => {
  await removeLab(lab);
  process.stderr.write(`[prestage figures] ${JSON.stringify(figures)}\n`);
});

describe("glance-node in the lab's wheelhouse mode (2 real Glance nodes)", () => {
  it("runs the fleet's release from the shared venv until a node has its own environment", async () => {
    expect(lab.upgradeMode).toBe("wheelhouse");
    expect(fs.readFileSync(path.join(lab.dir, "upgrade-mode"), "utf8").trim()).toBe("wheelhouse");
    for (const n of lab.nodes) {
      expect(await glanceNode("version", n.name)).toBe(OLD);
      expect(runningExecutable(n.name)).toBe(path.join(lab.dir, "venvs", FROM, "bin", "glance-api"));
    }
  });

  it(
    "a broken wheelhouse fails the install with the fix named, and leaves the node on its release",
    async () => {
      // The lab's link to the cached wheelhouse becomes a copy of links without one wheel (oslo.db):
      // the stamp is there, the package is not. The cache itself is not touched.
      const link = path.join(lab.dir, "wheelhouses", TO);
      const cached = fs.readlinkSync(link);
      fs.rmSync(link);
      fs.mkdirSync(link);
      for (const entry of fs.readdirSync(cached)) {
        if (!entry.startsWith("oslo.db-")) fs.symlinkSync(path.join(cached, entry), path.join(link, entry));
      }
      try {
        await glanceNode("stop", "node-1");
        const failed = await timed("install", "node-1", NEW);
        expect(failed.code).toBe(1);
        expect(failed.stderr).toContain(
          `installing glance ${NEW} (${TO}) from the wheelhouse ${link} failed`,
        );
        expect(failed.stderr).toMatch(
          /No matching distribution found for oslo\.db|satisfies the requirement oslo\.db/,
        );
        expect(failed.stderr).toContain(`The node is unchanged (release ${FROM})`);
        expect(failed.stderr).toContain(`bash scripts/setup-wheelhouse.sh --rebuild ${TO}`);
        expect(fs.existsSync(ownEnv("node-1", TO))).toBe(false);
        expect(await glanceNode("release", "node-1")).toBe(FROM);
        expect(await glanceNode("version", "node-1")).toBe(OLD);
        await glanceNode("start", "node-1");
        await waitNodeHealthy(node("node-1"));
      } finally {
        fs.rmSync(link, { recursive: true, force: true });
        fs.symlinkSync(cached, link);
      }
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "install without prestage builds the node's environment (real work), then switches to it",
    async () => {
      await glanceNode("stop", "node-1");
      const install = await timed("install", "node-1", NEW);
      expect(install.code, install.stderr).toBe(0);
      figures.installWithoutPrestageMs = install.ms;
      expect(install.ms).toBeGreaterThan(BUILD_FLOOR_MS);
      expect(install.stderr).toMatch(
        new RegExp(`installed glance ${NEW} \\(${TO}\\) into \\S+ from \\S+ in [0-9.]+ s`),
      );
      expect(fs.readFileSync(path.join(ownEnv("node-1", TO), ".gru-complete"), "utf8").trim()).toBe(NEW);
      expect(await glanceNode("release", "node-1")).toBe(TO);
      expect(await glanceNode("version", "node-1")).toBe(NEW);
      // The new code's glance-manage (the node's own) expands the schema before the new code serves.
      await glanceNode("manage", "node-1", "db", "expand");
      await glanceNode("manage", "node-1", "db", "migrate");
      await glanceNode("start", "node-1");
      await waitNodeHealthy(node("node-1"));
      expect(runningExecutable("node-1")).toBe(path.join(ownEnv("node-1", TO), "bin", "glance-api"));
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "prestage installs ahead while the node runs and serves, without touching the process",
    async () => {
      const pidFile = path.join(node("node-2").dir, "glance-api.pid");
      const pidBefore = fs.readFileSync(pidFile, "utf8").trim();
      const statuses: number[] = [];
      let probing = true;
      const probe = (async () => {
        while (probing) {
          statuses.push(await httpStatus(node("node-2").healthUrl));
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })();
      const prestage = await timed("prestage", "node-2", NEW);
      probing = false;
      await probe;
      expect(prestage.code, prestage.stderr).toBe(0);
      figures.prestageMs = prestage.ms;
      expect(prestage.ms).toBeGreaterThan(BUILD_FLOOR_MS);
      expect(prestage.stderr).toMatch(
        new RegExp(`node node-2: prestaged glance ${NEW} \\(${TO}\\) into \\S+ from \\S+ in [0-9.]+ s`),
      );
      expect(statuses.length).toBeGreaterThan(5);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(fs.readFileSync(pidFile, "utf8").trim()).toBe(pidBefore);
      expect(await glanceNode("status", "node-2")).toBe("running");
      expect(runningExecutable("node-2")).toBe(path.join(lab.dir, "venvs", FROM, "bin", "glance-api"));
      expect(await glanceNode("release", "node-2")).toBe(FROM);
      expect(await glanceNode("version", "node-2")).toBe(OLD);
      expect(await httpStatus(node("node-2").healthUrl)).toBe(200);
    },
    STEP_TIMEOUT_MS,
  );

  it("prestage again finds the environment complete and builds nothing", async () => {
    const again = await timed("prestage", "node-2", NEW);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      `glance ${NEW} (${TO}) is already in ${ownEnv("node-2", TO)}, nothing to build`,
    );
    expect(again.ms).toBeLessThan(BUILD_FLOOR_MS);
    expect(await glanceNode("status", "node-2")).toBe("running");
  });

  it(
    "install after prestage only switches (at most half the build's time), and the node runs the new release",
    async () => {
      await glanceNode("stop", "node-2");
      const install = await timed("install", "node-2", NEW);
      expect(install.code, install.stderr).toBe(0);
      figures.installAfterPrestageMs = install.ms;
      expect(install.stderr).toContain("nothing to build");
      expect(install.ms).toBeLessThanOrEqual(figures.installWithoutPrestageMs / 2);
      expect(await glanceNode("release", "node-2")).toBe(TO);
      expect(await glanceNode("version", "node-2")).toBe(NEW);
      await glanceNode("start", "node-2");
      await waitNodeHealthy(node("node-2"));
      expect(runningExecutable("node-2")).toBe(path.join(ownEnv("node-2", TO), "bin", "glance-api"));
    },
    STEP_TIMEOUT_MS,
  );

  it("refuses to install onto a running node, and names prestage as the way to install while it runs", async () => {
    const refused = await timed("install", "node-2", OLD);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("node node-2 is running");
    expect(refused.stderr).toContain(`glance-node ${lab.dir} prestage node-2 ${OLD}`);
    expect(fs.existsSync(ownEnv("node-2", FROM))).toBe(false);
    expect(await glanceNode("version", "node-2")).toBe(NEW);
  });
});
