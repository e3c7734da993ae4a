/**
 * Issue 34: the upgrades operators on OpenStack's SLURP cadence make, chained on one 2-node lab of
 * real Glance to keep CI short: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1, each a skip-level jump, the
 * last one moving every node from the eventlet server to uWSGI (`nodeCommands.serverMove`). Each hop
 * under the lab's load and its verdict, with `db check` 0 and the right release on every node after.
 * The last hop also rolls the NEW NODE back before contract (from 2026.1 under uWSGI to 2025.1 under
 * eventlet), then finishes through a start that fails once: a node half moved (eventlet stopped,
 * uWSGI not started) that the rerun resumes. And the neighbours' upgrade 2025.1 -> 2025.2 on a
 * second small lab.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, runGlanceNode } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { labStackConfig, LabStackOptions, LAB_SECRETS } from "../../lab/stack";
import type { TimelineEvent } from "../../steps/record";
import { DriverRun, TestStack } from "../support/driverFixture";
import { dbCheck, freshLab, removeLab } from "../support/labFixture";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

async function perNode(lab: LabState, action: "release" | "server"): Promise<string[]> {
  return Promise.all(
    lab.nodes.map(async (n) => (await runGlanceNode(lab.dir, [action, n.name])).stdout.trim()),
  );
}

const started = (timeline: TimelineEvent[]) => timeline.filter((e) => e.event === "start").map((e) => e.step);

/** The stack config of one hop of the chain: from the release the fleet runs to the next. */
function hopConfig(
  lab: LabState,
  from: string,
  to: string,
  opts: Partial<LabStackOptions> & { pauseAfter?: string } = {},
): Record<string, unknown> {
  const { pauseAfter, ...stackOpts } = opts;
  const config = labStackConfig(
    { ...lab, fromRelease: from, toRelease: to },
    { transport: "local", ...stackOpts },
  );
  return pauseAfter === undefined ? config : { ...config, pauseAfter };
}

/** `up` under the lab's load: 0 failed by the one verdict; returns the runs (a halted one included). */
async function upUnderLoad(
  lab: LabState,
  label: string,
  runs: (timed: (run: () => Promise<DriverRun>) => Promise<DriverRun>) => Promise<DriverRun[]>,
): Promise<DriverRun[]> {
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  let done: DriverRun[] = [];
  try {
    done = await runs(async (run) => {
      const t0 = Date.now();
      const result = await run();
      console.log(
        `${label}: ${path.basename(result.runDir)} exit ${result.code} in ${(Date.now() - t0) / 1000} s`,
      );
      return result;
    });
  } finally {
    const report = await load.stop();
    expectZeroFailedRequests(report, {
      label,
      minRequests: 100,
      haproxyLog: lab,
      drains: done.flatMap((r) => drainStarts(r.timeline)),
    });
  }
  return done;
}

/**
 * A 2-node lab on `from` with the releases up to `last` installed, and a stack for the hop
 * `from` -> `to`, for the calling describe block; removed after it.
 */
function labForHops(
  stackName: string,
  releases: { from: string; to: string; last: string },
): { lab: LabState; stack: TestStack } {
  const fixture = {} as { lab: LabState; stack: TestStack };
  beforeAll(async () => {
    fixture.lab = await freshLab(2, undefined, { fromRelease: releases.from, toRelease: releases.last });
    fixture.stack = TestStack.unique(
      stackName,
      hopConfig(fixture.lab, releases.from, releases.to),
      LAB_SECRETS,
    );
  });
  afterAll(async () => {
    fixture.stack?.remove();
    await removeLab(fixture.lab);
  });
  return fixture;
}

/**
 * One hop under the lab's load, every node from `from` to `to` on the eventlet server: 0 failed, the
 * run reaches db/contract, every node on `to` after, db check 0 with `to`'s code.
 */
async function hopUnderLoad({ lab, stack }: { lab: LabState; stack: TestStack }, from: string, to: string) {
  expect(await perNode(lab, "release")).toEqual([from, from]);
  stack.rewrite(hopConfig(lab, from, to));
  const [run] = await upUnderLoad(lab, `${from} -> ${to}`, async (timed) => [
    await timed(() => stack.driver("up")),
  ]);
  expect(run.code, run.stdout + run.stderr).toBe(0);
  expect(started(run.timeline)).toContain("db/contract");
  expect(await perNode(lab, "release")).toEqual([to, to]);
  expect(await perNode(lab, "server")).toEqual(["eventlet", "eventlet"]);
  expect(dbCheck({ ...lab, toRelease: to })).toBe(0);
}

describe("the SLURP chain on one lab: 2023.1 -> 2024.1 -> 2025.1 -> 2026.1 (ending under uWSGI)", () => {
  const chain = labForHops("e2e-chain", { from: "2023.1", to: "2024.1", last: "2026.1" });

  const hop = (from: string, to: string) =>
    it(`${from} -> ${to}, skipping a release: 0 failed, db check 0, every node on ${to}`, () =>
      hopUnderLoad(chain, from, to));

  hop("2023.1", "2024.1");
  hop("2024.1", "2025.1");

  it("2025.1 -> 2026.1 moving every node to uWSGI: the NEW NODE rolled back before contract, a half-moved node resumed, 0 failed", async () => {
    const { lab, stack } = chain;
    const fault = path.join(lab.dir, "fail-next-uwsgi-start");
    const withFault = (config: Record<string, unknown>) => {
      const commands = config.nodeCommands as { serverMove: { startCommand: string } };
      // One-shot: the first start after the fault file is written fails before starting uWSGI.
      commands.serverMove.startCommand = `if [ -e ${fault} ]; then rm -f ${fault}; echo "injected: uWSGI start failed" >&2; exit 1; fi; ${commands.serverMove.startCommand}`;
      return config;
    };
    expect(await perNode(lab, "release")).toEqual(["2025.1", "2025.1"]);
    stack.rewrite(withFault(hopConfig(lab, "2025.1", "2026.1", { serverMove: true, pauseAfter: "newNode" })));

    const runs = await upUnderLoad(lab, "2025.1 -> 2026.1", async (timed) => {
      const paused = await timed(() => stack.driver("up"));
      expect(paused.code, paused.stdout + paused.stderr).toBe(0);
      expect(paused.stdout).toContain("PAUSED after node-1/admit");
      expect(await perNode(lab, "release")).toEqual(["2026.1", "2025.1"]);
      expect(await perNode(lab, "server")).toEqual(["uwsgi", "eventlet"]);

      const rollback = await timed(() => stack.driver("rollback"));
      expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
      expect(started(rollback.timeline)).toEqual(
        ["drain", "stop", "upgrade", "start", "admit"].map((k) => `rollback/node-1/${k}`),
      );
      expect(await perNode(lab, "release")).toEqual(["2025.1", "2025.1"]);
      expect(await perNode(lab, "server")).toEqual(["eventlet", "eventlet"]);

      // No checkpoint now, and the next uWSGI start (node-1's) fails once: the run halts with
      // node-1 out of rotation, stopped, on 2026.1, not under uWSGI.
      stack.rewrite(withFault(hopConfig(lab, "2025.1", "2026.1", { serverMove: true })));
      fs.writeFileSync(fault, "");
      const halted = await timed(() => stack.driver("up"));
      expect(halted.code, halted.stdout).not.toBe(0);
      expect(halted.stdout + halted.stderr).toContain("injected: uWSGI start failed");
      expect(fs.existsSync(fault)).toBe(false);
      expect(started(halted.timeline)).not.toContain("db/contract");
      expect((await runGlanceNode(lab.dir, ["status", "node-1"])).stdout.trim()).toBe("stopped");
      expect(await perNode(lab, "server")).toEqual(["eventlet", "eventlet"]);

      const finished = await timed(() => stack.driver("up"));
      expect(finished.code, finished.stdout + finished.stderr).toBe(0);
      const resumed = started(finished.timeline);
      expect(resumed).toContain("node-1/start");
      expect(resumed).not.toContain("node-1/stop"); // resumed, not replayed: the stop had finished
      expect(resumed).toContain("db/contract");
      return [paused, rollback, halted, finished];
    });
    expect(runs).toHaveLength(4);
    expect(await perNode(lab, "release")).toEqual(["2026.1", "2026.1"]);
    expect(await perNode(lab, "server")).toEqual(["uwsgi", "uwsgi"]);
    expect(dbCheck({ ...lab, toRelease: "2026.1" })).toBe(0);
  });
});

describe("neighbours on a second lab: 2025.1 -> 2025.2", () => {
  const neighbours = labForHops("e2e-2025-2", { from: "2025.1", to: "2025.2", last: "2025.2" });

  it("upgrades every node to 2025.2: 0 failed, db check 0", () =>
    hopUnderLoad(neighbours, "2025.1", "2025.2"));
});
