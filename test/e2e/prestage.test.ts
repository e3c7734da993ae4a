/**
 * Pre-staging on a lab whose upgrades are real installs (the "wheelhouse" mode: a node's release is
 * pip-installed from a local wheelhouse into its own environment, tens of seconds). With
 * `prestageCommand`, every node builds its new environment while it still serves, after the preflight
 * and the backup, in parallel; its drain waits for it; its `upgrade` then only switches. Under load:
 * no request fails, the summary shows each node pre-staged, and the install's time is outside the
 * time the node is out of rotation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabState } from "../../lab/lab";
import { startLoad, type LoadReport } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { runGlanceNode } from "../../lab/glanceNode";
import { type DriverRun, TestStack } from "../support/driverFixture";
import { spans, type StepSpan } from "../support/invariants";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const NODES = 2;

describe("prestageCommand on a lab with real installs", () => {
  let lab: LabState;
  let stack: TestStack;
  let run: DriverRun;
  let load: LoadReport;
  let span: (step: string) => StepSpan;

  beforeAll(async () => {
    lab = await freshLab(NODES, () => undefined, { upgradeMode: "wheelhouse" });
    stack = TestStack.unique(
      "e2e-prestage",
      labStackConfig(lab, { transport: "local", prestage: true }),
      LAB_SECRETS,
    );
    const running = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    run = await stack.driver("up");
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    load = await running.stop();
    const all = spans(run.timeline);
    span = (step) => {
      const found = all.get(step)?.at(-1);
      if (found?.end === undefined) throw new Error(`${step} did not run to its end:\n${run.stdout}`);
      return found;
    };
  });
  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
  });

  it("upgrades every node with no failed request", async () => {
    expect(run.code, run.stdout).toBe(0);
    for (const node of lab.nodes) {
      const version = await runGlanceNode(lab.dir, ["version", node.name]);
      expect(version.stdout.trim()).toBe(lab.releases[lab.toRelease].glanceVersion);
    }
    expect(dbCheck(lab)).toBe(0);
    expectZeroFailedRequests(load, { minRequests: 100, haproxyLog: lab, drains: drainStarts(run.timeline) });
  });

  it("pre-stages every node after the backup, in parallel, each before its own drain", () => {
    const backup = span("db/backup");
    const prestages = lab.nodes.map((n) => span(`${n.name}/prestage`));
    for (const [i, node] of lab.nodes.entries()) {
      expect(prestages[i].start).toBeGreaterThanOrEqual(backup.end ?? Infinity);
      expect(prestages[i].end).toBeLessThanOrEqual(span(`${node.name}/drain`).start);
      expect(prestages[i].result?.stdout).toMatch(/pre-staged release|prestaged glance|already in/);
    }
    // In parallel: each began before any other ended.
    const firstEnd = Math.min(...prestages.map((p) => p.end ?? Infinity));
    for (const p of prestages) expect(p.start).toBeLessThan(firstEnd);
  });

  it("keeps the install out of the rotation window: the upgrade only switches, the summary says pre-staged", () => {
    for (const node of lab.nodes) {
      const prestage = span(`${node.name}/prestage`);
      const upgrade = span(`${node.name}/upgrade`);
      const prestageMs = (prestage.end ?? 0) - prestage.start;
      const upgradeMs = (upgrade.end ?? 0) - upgrade.start;
      // The build took seconds, before the drain; inside the window the upgrade only switches.
      expect(prestageMs).toBeGreaterThan(5_000);
      expect(upgradeMs, `${node.name}: upgrade ${upgradeMs} ms, prestage ${prestageMs} ms`).toBeLessThan(
        Math.min(5_000, prestageMs / 4),
      );
    }
    expect(run.stdout).toMatch(/pre-staged/);
    for (const node of lab.nodes)
      expect(run.stdout).toMatch(new RegExp(`${node.name}\\s.*\\syes \\(\\d+\\.\\d s\\)`));
  });
});
