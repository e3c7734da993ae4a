import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildPlan, PlanStep, stepsToRun } from "../../plan/plan";
import { redirectSay } from "../../driver/commands/output";
import { RunProgress } from "../../driver/progress";
import { remainingSeconds, renderView, ViewInput, viewPlanOf, waitingFor } from "../../driver/view/render";
import { outputMode, plainLine, redrawText, showRun } from "../../driver/view/screen";
import { applyEvent, StepEvent, StepRecord } from "../../steps/progress";
import { haproxyStack, Overrides, parsed } from "./fixtures";
import { headerCount, plainProblems, screenAfter, unfitLines } from "../support/viewCheckers";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (ms: number) => new Date(T0 + ms).toISOString();

/** A plan of `nodes` HAProxy nodes and the steps its run registers. */
function planOf(nodes: number, overrides: Overrides = {}) {
  const plan = buildPlan(parsed(haproxyStack(nodes, overrides)));
  const steps = stepsToRun(plan);
  return { plan, steps, view: viewPlanOf(plan, steps) };
}

/**
 * The events a run emits, as the provider writes them (steps/record.ts): each step in plan order
 * starts 10 s after the one before and takes 8 s, with one progress line; `until` (a step id) is
 * left running with `message`, or failed with `error`.
 */
function eventsUntil(
  steps: readonly PlanStep[],
  until?: string,
  last: { message?: string; error?: string } = {},
): StepEvent[] {
  const events: StepEvent[] = [];
  for (const [i, step] of steps.entries()) {
    const meta = {
      step: step.id,
      kind: step.kind,
      release: "2024.1",
      ...(step.node ? { node: step.node } : {}),
    };
    events.push({ event: "start", ...meta, at: iso(i * 10_000), message: `[${step.id}] +0.0s started` });
    const isLast = step.id === until;
    events.push({
      event: "progress",
      ...meta,
      at: iso(i * 10_000 + 200),
      message: `[${step.id}] +0.2s ${isLast && last.message ? last.message : "working"}`,
    });
    if (isLast && last.error) {
      events.push({
        event: "fail",
        ...meta,
        at: iso(i * 10_000 + 3000),
        seconds: 3,
        error: last.error,
        reason: "StepFailed",
        message: `[${step.id}] +3.0s FAILED: ${last.error}`,
      });
    }
    if (isLast) return events;
    events.push({
      event: "end",
      ...meta,
      at: iso(i * 10_000 + 8000),
      seconds: 8,
      message: `[${step.id}] +8.0s done`,
    });
  }
  return events;
}

function recordsOf(events: readonly StepEvent[]): Map<string, StepRecord> {
  const records = new Map<string, StepRecord>();
  for (const event of events) {
    const record = applyEvent(records.get(event.step), event);
    if (record) records.set(event.step, record);
  }
  return records;
}

/** The view `at` ms after the run's start (default: 4 s into the last step started). */
function viewAt(
  setup: ReturnType<typeof planOf>,
  events: StepEvent[],
  size: { columns: number; rows: number } = { columns: 100, rows: 40 },
  extra: Partial<ViewInput> = {},
): string[] {
  const lastStart = Math.max(...events.filter((e) => e.event === "start").map((e) => Date.parse(e.at)));
  return renderView({
    plan: setup.view,
    records: recordsOf(events),
    now: lastStart + 4000,
    startedAt: T0,
    ...size,
    ...extra,
  });
}

describe("renderView: 3 nodes", () => {
  const setup = planOf(3);
  it("mid-drain: the drained node's requests in flight, the NEW NODE done, the next node waiting", () => {
    const events = eventsUntil(setup.steps, "node-2/drain", {
      message: "glance_api/node-2 set to DRAIN with 3 session(s) in flight; waiting up to 30 s",
    });
    expect(viewAt(setup, events)).toEqual([
      "up: release 2024.1  elapsed 2:14  remaining >1:24  steps 13/29 done",
      "+ node-1       7/7  done             0:56",
      "> node-2       0/5  drain            0:04  3 request(s) in flight",
      ". node-3       0/5  waiting",
      "database  backup +  allow-functions +  expand +  migrate +  verify +  contract .  restore-setting .",
      "fleet     preflight +  version reports 0/3 done  fleet/verify .",
    ]);
  });

  it("a failed step: its node marked X with the reason, the header counts it", () => {
    const events = eventsUntil(setup.steps, "node-2/admit", {
      error: "glance_api/node-2 did not become healthy within 30 s",
    });
    const lines = viewAt(setup, events, { columns: 120, rows: 40 });
    expect(lines[0]).toMatch(/steps 17\/29 done, 1 FAILED$/);
    expect(lines[2]).toBe(
      "X node-2       4/5  admit            0:03  FAILED: glance_api/node-2 did not become healthy within 30 s",
    );
    expect(lines[3]).toBe(". node-3       0/5  waiting");
  });

  // [step left running, its last line, what the view says it waits for, the line it is on]
  const waits: Array<[string, string, string, number]> = [
    [
      "db/expand",
      "waiting for 2 image import(s) in flight: a (importing); b",
      "2 image import(s) in flight",
      6,
    ],
    [
      "node-1/admit",
      "glance_api/node-1 out of MAINT, in DRAIN with health forced down; waiting for HAProxy's health checks",
      "waiting for health checks",
      1,
    ],
    [
      "node-2/start",
      "waiting for http://10.0.0.2:9292/healthcheck to answer 200 (up to 60 s)",
      "health: waiting for 200 from http://10.0.0.2:9292/healthcheck",
      2,
    ],
    ["node-2/start", "http://10.0.0.2:9292/healthcheck: 503", "health: 503", 2],
    ["node-2/stop", "running script on node-2", "running script on node-2", 2],
  ];
  it.each(waits)("%s: %s", (step, message, shown, line) => {
    const lines = viewAt(setup, eventsUntil(setup.steps, step, { message }), { columns: 120, rows: 40 });
    expect(lines[line]).toContain(`${step.split("/").at(-1)}`);
    expect(lines[line]).toMatch(new RegExp(`0:04  ${shown.replace(/[.()?]/g, "\\$&")}$`));
  });

  it("a database step running: its own line below the database line, with what it waits for", () => {
    const lines = viewAt(
      setup,
      eventsUntil(setup.steps, "db/expand", { message: "waiting for 2 image import(s) in flight: x" }),
    );
    expect(lines.slice(4)).toEqual([
      "database  backup +  allow-functions +  expand >  migrate .  verify .  contract .  restore-setting .",
      "fleet     preflight +  version reports 0/3 done  fleet/verify .",
      "  > db/expand 0:04  2 image import(s) in flight",
    ]);
  });
});

describe("renderView: a checkpoint", () => {
  it("names where the run pauses, then that it is paused there; approved once approved", () => {
    const setup = planOf(3, { pauseAfter: "newNode" });
    const before = viewAt(setup, eventsUntil(setup.steps, "node-1/start"));
    expect(before.at(-1)).toBe(
      "checkpoint after node-1/admit: the run pauses there until 2024.1 is approved",
    );
    const paused = viewAt(setup, eventsUntil(setup.steps));
    expect(paused.at(-1)).toBe("checkpoint after node-1/admit: PAUSED here until 2024.1 is approved");
    expect(paused[0]).toMatch(/remaining ~0:00 {2}steps 13\/13 done$/);
    const approved = planOf(3, { pauseAfter: "newNode", approvedRelease: "2024.1" });
    expect(viewAt(approved, eventsUntil(approved.steps, "node-2/drain")).at(-1)).toBe(
      "checkpoint after node-1/admit: approved (2024.1)",
    );
  });
});

describe("renderView: a bake's error count", () => {
  it("shows the errors the bake counted so far against its budget", () => {
    const setup = planOf(3, { bake: { windowSeconds: 60, errorBudget: 5 } });
    const record = recordsOf(
      eventsUntil(setup.steps, "node-2/bake", {
        message: "bake at 12.0 s: 2 error(s) (budget 5); 5xx responses +2",
      }),
    ).get("node-2/bake");
    expect(record && waitingFor(record)).toBe("bake: 2 error(s), budget 5");
    const started = recordsOf(
      eventsUntil(setup.steps, "node-2/bake", { message: "baking node-2 for 60 s" }),
    ).get("node-2/bake");
    expect(started && waitingFor(started)).toBe("bake: 0 error(s) so far (60 s window)");
  });
});

describe("renderView: 50 nodes fit a terminal", () => {
  const big = planOf(50, { nodeCommands: { prestageCommand: "glance-fetch" }, bake: { windowSeconds: 60 } });
  const sizes: Array<[number, number]> = [
    [80, 24],
    [60, 16],
    [120, 40],
  ];
  it.each(sizes)("%i x %i: waves folded, the active node shown", (columns, rows) => {
    const events = eventsUntil(big.steps, "node-20/drain", {
      message: "glance_api/node-20 set to DRAIN with 1 session(s) in flight",
    });
    const lines = viewAt(big, events, { columns, rows });
    expect(unfitLines(lines, columns, rows)).toEqual([]);
    expect(lines.filter((l) => /^\s*[.>+X] node-/.test(l)).map((l) => l.trim().slice(0, 9))).toEqual([
      "> node-20",
    ]);
    expect(lines).toContain("+ waves 0-18 (19 nodes): 19/19 done");
    expect(lines.some((l) => l.startsWith(". waves 20-49 (30 nodes): 0/30 done"))).toBe(true);
    expect(lines).toContain("prestage  50/50 done");
  });

  it("a failed node stays shown when the active nodes overflow the screen", () => {
    const wide = planOf(50, { loadBalancer: { maxUnavailable: 10 } });
    // Every node of wave 1 (node-2..node-11) draining, node-5's drain failed.
    const events = eventsUntil(wide.steps, "node-11/drain");
    const running = events.filter(
      (e) =>
        !(e.event === "end" && /^node-(\d+)\/drain$/.test(e.step) && Number(/\d+/.exec(e.step)?.[0]) > 1),
    );
    const failedAt = running.findIndex((e) => e.step === "node-5/drain" && e.event === "progress");
    running.splice(failedAt + 1, 0, {
      event: "fail",
      step: "node-5/drain",
      kind: "drain",
      node: "node-5",
      release: "2024.1",
      at: iso(0),
      seconds: 2,
      error: "drain did not finish",
    });
    const lines = viewAt(wide, running, { columns: 80, rows: 10 });
    expect(unfitLines(lines, 80, 10)).toEqual([]);
    expect(lines.some((l) => /X node-5 .*FAILED: drain did not finish/.test(l))).toBe(true);
    expect(lines.some((l) => /\.\.\. and \d+ more node\(s\) running/.test(l))).toBe(true);
  });
});

describe("remainingSeconds: from the last run's durations, along the plan's order", () => {
  const setup = planOf(3);
  const lastSeconds = new Map(setup.steps.map((s) => [s.id, 10]));
  it("before any step: the plan's longest chain (the version reports run side by side)", () => {
    const input = {
      plan: setup.view,
      records: new Map(),
      now: T0,
      startedAt: T0,
      lastSeconds,
      columns: 80,
      rows: 24,
    };
    expect(remainingSeconds(input)).toEqual({ seconds: (setup.steps.length - 2) * 10, unknown: 0 });
    expect(renderView(input)[0]).toContain("remaining ~4:30");
  });
  it("mid-run: what the running step has left, then the rest; no estimate without any duration", () => {
    const records = recordsOf(eventsUntil(setup.steps, "node-2/drain"));
    const now = Date.parse(records.get("node-2/drain")?.startedAt ?? "") + 4000;
    const input = { plan: setup.view, records, now, startedAt: T0, lastSeconds, columns: 80, rows: 24 };
    expect(remainingSeconds(input).seconds).toBe(6 + (setup.steps.length - 2 - 14) * 10);
    expect(renderView({ ...input, records: new Map(), lastSeconds: new Map() })[0]).toContain(
      "remaining: no estimate yet",
    );
  });
});

describe("the checkers' negative controls", () => {
  it("unfitLines reports too many lines, a too-wide line and an escape byte", () => {
    expect(unfitLines(["a".repeat(81), "b", "\x1b[2Kc"], 80, 2)).toEqual([
      "3 lines on a screen of 2 rows",
      "line 1 has 81 > 80 columns",
      "line 3 carries a control byte",
    ]);
  });
  it("plainProblems reports an escape byte, a doubled start, a missing end and a progress line", () => {
    const output = [
      "  [db/backup] +0.0s started",
      "  [db/backup] +0.0s started",
      "  [db/backup] +1.0s done",
      "  [preflight] +0.0s started",
      "  [preflight] +0.1s reachable",
      "\x1b[2K",
    ].join("\n");
    expect(plainProblems(output, ["preflight", "db/backup"])).toEqual([
      "an escape byte",
      "preflight: 0 end line(s)",
      "preflight: 1 other line(s)",
      "db/backup: 2 start line(s)",
    ]);
  });
  it("screenAfter shows the lines a redraw without erasing below would leave behind", () => {
    const naive = (drawn: number, lines: string[]) =>
      `\x1b[${drawn}A\r${lines.map((l) => `${l}\n`).join("")}`;
    const frames = [["one", "two", "three"], ["1"]];
    expect(screenAfter(redrawText(0, frames[0]) + naive(3, frames[1]))).toEqual(["1ne", "two", "three"]);
    expect(screenAfter(redrawText(0, frames[0]) + redrawText(3, frames[1]))).toEqual(["1"]);
  });
});

/** A run folder of its own with `events` in its progress file. */
function runFolder(events: readonly StepEvent[]) {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "gru-view-")), "run");
  mkdirSync(dir);
  const files = {
    dir,
    progress: path.join(dir, "progress.jsonl"),
    timeline: path.join(dir, "timeline.jsonl"),
  };
  writeFileSync(files.progress, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  return files;
}

/** What showRun prints for a run of `events` in `mode`, and the engine's output it was given. */
function shown(
  mode: "plain" | "verbose" | "live",
  events: readonly StepEvent[],
  terminal = { columns: 80, rows: 24 },
) {
  const setup = planOf(3);
  const files = runFolder(events);
  let output = "";
  const write = (text: string) => {
    output += text;
  };
  const restore = redirectSay(write);
  try {
    const run = showRun(
      mode,
      files,
      new RunProgress(),
      setup.view,
      { write, ...terminal },
      () => T0 + 60_000,
    );
    run.onOutput("@ updating....\n    + pulumi-nodejs:dynamic:Resource node-1/drain creating (0s)\n");
    run.stop();
  } finally {
    restore();
  }
  return { output, files, setup };
}

describe("plain mode: one start and one end line per step, no escape bytes", () => {
  it("over a whole run's events", () => {
    const setup = planOf(3);
    const { output } = shown("plain", eventsUntil(setup.steps));
    expect(
      plainProblems(
        output,
        setup.steps.map((s) => s.id),
      ),
    ).toEqual([]);
    expect(output).not.toContain("working");
    expect(output).not.toContain("@ updating");
  });
  it("over a failed run: the failed step's end is its FAILED line, the steps after it print nothing", () => {
    const setup = planOf(3);
    const events = eventsUntil(setup.steps, "node-2/admit", {
      error: "not healthy\nsecond line \x1b[31mred",
    });
    const { output } = shown("plain", events);
    const ran = setup.steps
      .slice(0, setup.steps.findIndex((s) => s.id === "node-2/admit") + 1)
      .map((s) => s.id);
    expect(plainProblems(output, ran)).toEqual([]);
    expect(output).toContain("  [node-2/admit] +3.0s FAILED: not healthy second line red\n");
    expect(output.trimEnd().split("\n").at(-1)).toMatch(/^ {2}\[node-2\/admit\] \+3\.0s FAILED/);
    expect(output).not.toContain("[node-3/");
  });
  it("plainLine prints nothing for a progress line or a line of no step", () => {
    const [start, progress] = eventsUntil(planOf(3).steps);
    expect(plainLine(start)).toBe("  [preflight] +0.0s started");
    expect(plainLine(progress)).toBeUndefined();
    expect(plainLine({ ...start, step: "", message: "stray" })).toBeUndefined();
  });
});

describe("verbose mode keeps today's output; the engine's output is kept either way", () => {
  it("verbose: the engine's lines and every line of every step", () => {
    const setup = planOf(3);
    const events = eventsUntil(setup.steps);
    const { output } = shown("verbose", events);
    expect(output).toContain("  @ updating....\n");
    for (const event of events) expect(output).toContain(`  ${event.message}\n`);
  });
  it("plain and live: the engine's output goes to engine.log in the run records", async () => {
    const { readFileSync } = await import("node:fs");
    for (const mode of ["plain", "live"] as const) {
      const { output, files } = shown(mode, eventsUntil(planOf(3).steps));
      expect(readFileSync(path.join(files.dir, "engine.log"), "utf8")).toContain("node-1/drain creating");
      expect(output).toContain(`engine output: ${path.join(files.dir, "engine.log")}`);
    }
  });
});

describe("live mode draws the view in place", () => {
  it("the terminal ends with the driver's lines above the last frame, and nothing else", () => {
    const setup = planOf(3);
    const events = eventsUntil(setup.steps, "node-2/drain", {
      message: "x set to DRAIN with 2 session(s) in flight",
    });
    const { output } = shown("live", events);
    expect(output).toContain("\x1b[2K");
    const screen = screenAfter(output);
    expect(screen[0]).toMatch(/^engine output: /);
    expect(screen.slice(1)).toEqual(
      renderView({
        plan: setup.view,
        records: recordsOf(events),
        now: T0 + 60_000,
        startedAt: T0 + 60_000,
        columns: 79,
        rows: 23,
      }),
    );
    expect(screen.find((l) => l.includes("node-2"))).toMatch(/drain .* 2 request\(s\) in flight$/);
  });
});

describe("outputMode", () => {
  const cases: Array<[{ plain?: boolean; verbose?: boolean }, boolean, string]> = [
    [{}, true, "live"],
    [{}, false, "plain"],
    [{ plain: true }, true, "plain"],
    [{ verbose: true }, true, "verbose"],
    [{ verbose: true }, false, "verbose"],
  ];
  it.each(cases)("%j on a TTY %s: %s", (flags, tty, mode) => {
    expect(outputMode(flags, tty)).toBe(mode);
  });
});

describe("headerCount (the tmux test's in-place check)", () => {
  it("counts the header once on a redrawn screen; a negative control: twice on a scrolled one", () => {
    const frame = "up: release 2024.1  elapsed 0:04  remaining: no estimate yet  steps 0/28 done\n. node-1";
    expect(headerCount(frame)).toBe(1);
    expect(headerCount(`${frame}\n${frame}`)).toBe(2);
    expect(headerCount("  [preflight] +0.0s started")).toBe(0);
  });
});

describe("a rollback's view: one wave per node, its steps under rollback/", () => {
  it("shows the node being rolled back and the next one waiting", async () => {
    const { rollbackSteps } = await import("../../plan/plan");
    const steps = rollbackSteps(parsed(haproxyStack(3)), ["node-1", "node-2"]);
    const view = {
      title: "rollback",
      release: "2023.2",
      steps,
      waves: [
        { index: 1, nodes: ["node-1"] },
        { index: 2, nodes: ["node-2"] },
      ],
    };
    const events = eventsUntil(steps, "rollback/node-1/stop", { message: "running script on node-1" });
    const lines = viewAt({ plan: buildPlan(parsed(haproxyStack(3))), steps, view }, events);
    expect(lines).toEqual([
      "rollback: release 2023.2  elapsed 0:14  remaining >0:08  steps 1/10 done",
      "> node-1       1/5  stop             0:04  running script on node-1",
      ". node-2       0/5  waiting",
    ]);
  });
});

describe("parseArgs: --plain and --verbose", () => {
  it("takes either flag anywhere after the command", async () => {
    const { parseArgs } = await import("../../driver/cli");
    expect(parseArgs(["up", "--plain", "--stack", "prod"])).toEqual({
      command: "up",
      stack: "prod",
      workDir: undefined,
      plain: true,
    });
    expect(parseArgs(["rollback", "--stack", "prod", "--verbose"])).toMatchObject({ verbose: true });
    expect(parseArgs(["up", "--stack", "prod"])).not.toHaveProperty("plain");
  });
});
