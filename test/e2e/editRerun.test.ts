/**
 * A sample of the generated edit cases (test/unit/editRerun.test.ts) through the real engine and the
 * driver, on a fleet of stand-in nodes (a real HAProxy and MariaDB; each node a small HTTP server and
 * a `glance-node` stub whose stop, switch and start do nothing): the preview's count of steps to run,
 * then the timeline of what really ran.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { startStandinFleet, StandinFleet } from "../../bench/support/standins";
import type { TimelineEvent } from "../../steps/record";
import { previewSummary, TestStack } from "../support/driverFixture";

const started = (timeline: TimelineEvent[]) => timeline.filter((e) => e.event === "start").map((e) => e.step);

describe("edits between runs, on the real engine (stand-in nodes)", () => {
  let fleet: StandinFleet;
  let stack: TestStack;
  let config: Record<string, unknown>;
  let failFlag: string;

  const withCommands = (commands: Record<string, unknown>) => ({
    ...config,
    nodeCommands: { ...(config.nodeCommands as Record<string, unknown>), ...commands },
  });

  beforeAll(async () => {
    fleet = await startStandinFleet(3);
    config = labStackConfig(fleet.layout, { transport: "local" });
    failFlag = path.join(fleet.layout.dir, "fail-stop");
    stack = TestStack.unique("e2e-edits", config, LAB_SECRETS);
  });
  afterAll(async () => {
    stack?.remove();
    await fleet?.stop();
  });

  it("a stop that fails on node-2, then stopCommand fixed as advised: the rerun starts at node-2/stop", async () => {
    const stop = (config.nodeCommands as Record<string, string>).stopCommand;
    // node-2's stop fails while the flag file exists; the edit then removes the condition.
    stack.rewrite(
      withCommands({
        stopCommand: `if [ "$GLANCE_NODE" = node-2 ] && [ -e ${failFlag} ]; then exit 7; fi; ${stop}`,
      }),
    );
    fs.writeFileSync(failFlag, "");
    const failed = await stack.driver("up");
    expect(failed.code, failed.stdout).not.toBe(0);
    expect(failed.timeline.find((e) => e.event === "fail")?.step).toBe("node-2/stop");
    expect(started(failed.timeline)).toContain("node-2/drain");

    stack.rewrite(withCommands({ stopCommand: stop }));
    const preview = await stack.driver("preview");
    // Nothing that finished runs again: only creates, of the steps from node-2/stop on.
    expect(previewSummary(preview.stdout).update ?? 0, preview.stdout).toBe(0);

    const resumed = await stack.driver("up");
    expect(resumed.code, resumed.stdout).toBe(0);
    const ran = started(resumed.timeline);
    expect(ran[0]).toBe("node-2/stop");
    expect(ran).not.toContain("node-2/drain");
    expect(ran.filter((s) => s.startsWith("node-1/") && !s.endsWith("/version"))).toEqual([]);
    expect(ran).not.toContain("db/expand");
    expect(previewSummary(preview.stdout).create).toBe(ran.length);
  });

  it("stopCommand edited after success: the preview shows nothing to run, and nothing runs", async () => {
    stack.rewrite(withCommands({ stopCommand: "systemctl stop glance-api-edited" }));
    const preview = await stack.driver("preview");
    const summary = previewSummary(preview.stdout);
    expect(summary.update ?? 0, preview.stdout).toBe(0);
    expect(summary.create ?? 0).toBe(0);
    const up = await stack.driver("up");
    expect(up.code, up.stdout).toBe(0);
    expect(started(up.timeline)).toEqual([]);
  });

  it("node-2's address edited after success: its whole unit runs again, in order, and nothing else", async () => {
    const nodes = (config.nodes as Array<Record<string, unknown>>).map((n) =>
      n.name === "node-2" ? { ...n, address: "localhost" } : n,
    );
    config = { ...withCommands({}), nodes };
    stack.rewrite(config);
    const preview = await stack.driver("preview");
    const unit = [
      "node-2/drain",
      "node-2/stop",
      "node-2/upgrade",
      "node-2/start",
      "node-2/admit",
      "node-2/version",
    ];
    expect(previewSummary(preview.stdout).update, preview.stdout).toBe(unit.length);
    const up = await stack.driver("up");
    expect(up.code, up.stdout).toBe(0);
    expect(started(up.timeline)).toEqual(unit);
  });
});
