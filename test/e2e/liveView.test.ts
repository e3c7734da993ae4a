/**
 * The driver's output as an operator sees it (issue 35): on a terminal (a tmux pane, read with
 * capture-pane) the live view redrawn in place, up to a checkpoint; then with no terminal (a CI log)
 * plain lines, one start and one end line per step and no escape byte, and the summary as before.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../driver/environment";
import { LabState } from "../../lab/lab";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { readTimeline, TestStack } from "../support/driverFixture";
import { freshLab, removeLab } from "../support/labFixture";
import { headerCount, plainProblems } from "../support/viewCheckers";

const COLUMNS = 100;
const ROWS = 30;

/** A tmux server of this test's own (its own socket), started with the stack's environment. */
class Tmux {
  readonly socket = `gru-live-${randomBytes(3).toString("hex")}`;
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  run(args: string[]): string {
    const result = spawnSync("tmux", ["-L", this.socket, ...args], { env: this.env, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  }

  /** The pane's visible screen, or with `history` everything since the pane started. */
  screen(history = false): string {
    return this.run(["capture-pane", "-p", "-t", "live", ...(history ? ["-S", "-"] : [])]);
  }

  stop(): void {
    spawnSync("tmux", ["-L", this.socket, "kill-server"], { env: this.env });
  }
}

describe("the live view on a terminal, plain lines without one", () => {
  let lab: LabState;
  let stack: TestStack;
  let tmux: Tmux | undefined;

  beforeAll(async () => {
    lab = await freshLab(3);
    stack = TestStack.unique(
      "e2e-live",
      { ...labStackConfig(lab, { transport: "local" }), pauseAfter: "newNode" },
      LAB_SECRETS,
    );
  });
  afterAll(async () => {
    tmux?.stop();
    stack?.remove();
    await removeLab(lab);
  });

  it("tmux: the view redrawn in place mid-upgrade, the checkpoint at the end; then plain lines in a log", async () => {
    const runDir = path.join(stack.folder, "runs", "0-tty-up");
    fs.mkdirSync(runDir, { recursive: true });
    tmux = new Tmux({ ...stack.env, GRU_RUN_DIR: runDir });
    const cli = path.join(PROJECT_ROOT, "dist", "driver", "cli.js");
    const command =
      `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} up --stack ${stack.name} ` +
      `--work-dir ${JSON.stringify(stack.folder)}; echo "EXIT=$?"; sleep 600`;
    tmux.run(["new-session", "-d", "-s", "live", "-x", String(COLUMNS), "-y", String(ROWS), command]);

    const screens: string[] = [];
    const deadline = Date.now() + 300_000;
    for (;;) {
      const screen = tmux.screen();
      screens.push(screen);
      if (/EXIT=\d+/.test(screen)) break;
      if (Date.now() > deadline) throw new Error(`the driver did not finish under tmux:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    fs.writeFileSync(path.join(runDir, "screens.txt"), screens.join(`\n${"=".repeat(COLUMNS)}\n`));
    // The whole pane, its scrollback included: the runbook, the view's last frame, the driver's lines.
    const last = tmux.screen(true);
    fs.writeFileSync(path.join(runDir, "pane.txt"), last);
    expect(last, last).toMatch(/EXIT=0/);
    // Redrawn in place: one header in the whole pane, however many frames were drawn.
    expect(headerCount(last), last).toBe(1);

    // Mid-upgrade: a node step running, with its node's line and elapsed time; the header once.
    const midRun = screens.filter((s) => /^> node-1 +\d+\/\d+ {2}(drain|stop|upgrade|start|admit)/m.test(s));
    expect(midRun.length, screens.join("\n----\n")).toBeGreaterThan(0);
    for (const screen of screens.filter((s) => headerCount(s) > 0)) {
      expect(headerCount(screen), screen).toBe(1);
      expect(screen).not.toMatch(/@ updating|pulumi-nodejs:dynamic:Resource/);
    }
    // Kept after the stack's folder is removed: the screen README shows comes from here (docs/).
    const kept = path.join(PROJECT_ROOT, ".work", "live-view");
    fs.mkdirSync(kept, { recursive: true });
    fs.writeFileSync(path.join(kept, "mid-upgrade.txt"), midRun[Math.floor(midRun.length / 2)]);
    fs.writeFileSync(path.join(kept, "pane.txt"), last);
    // At the end: the last frame, then the driver's lines as before (the summary, PAUSED).
    // The nodes after the checkpoint are not in this run (stepsToRun), so not in its view.
    expect(last).toMatch(/^\+ node-1 +(\d+)\/\1 {2}done/m);
    expect(last).not.toMatch(/^. node-2/m);
    expect(last).toContain("checkpoint after node-1/admit: PAUSED here until 2024.1 is approved");
    expect(last).toContain("PAUSED after node-1/admit");
    expect(last.indexOf("checkpoint after node-1/admit: PAUSED here")).toBeLessThan(
      last.indexOf("Steps (in the order they ran):"),
    );
    const firstRun = readTimeline(path.join(runDir, "timeline.jsonl"));
    expect(
      firstRun
        .filter((e) => e.event === "end")
        .map((e) => e.step)
        .at(-1),
    ).toBe("node-1/admit");
    // Every step's line is kept in the run records, and the engine's own output beside them.
    const progress = fs.readFileSync(path.join(runDir, "progress.jsonl"), "utf8");
    expect(progress).toMatch(/"event":"progress","step":"node-1\/admit"/);
    expect(fs.readFileSync(path.join(runDir, "engine.log"), "utf8")).toMatch(/node-1\/admit/);

    expect((await stack.driver("approve")).code).toBe(0);
    // No terminal, no --verbose: the plain lines a CI log shows.
    const plain = await stack.driver("up", {}, []);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    const ran = [...new Set(plain.timeline.filter((e) => e.event === "start").map((e) => e.step))];
    expect(ran).toContain("db/contract");
    expect(plainProblems(plain.stdout, ran)).toEqual([]);
    expect(plain.stdout).toMatch(/up: succeeded; /);
    expect(plain.stdout).toContain("Steps (in the order they ran):");
    expect(plain.stdout).not.toMatch(/@ updating|pulumi-nodejs:dynamic:Resource/);
  });
});
