/**
 * The live view of a run, as lines of text: a pure function of what will run (the plan's steps and
 * waves), what has run so far (the steps' records), the time, and (optionally) how long each step
 * took in the last run. No I/O and no escape codes: driver/view/screen.ts draws it on a terminal.
 */
import type { Plan, PlanStep } from "../../plan/plan";
import type { Wave } from "../../plan/waves";
import type { StepRecord } from "../../steps/progress";

/** What the view shows: `up`'s plan (viewPlanOf), or a rollback's steps with one wave per node. */
export interface ViewPlan {
  /** `up`, `rollback`: the first word of the header. */
  title: string;
  release: string;
  /** The steps this run registers, in plan order. */
  steps: readonly PlanStep[];
  waves: readonly Wave[];
  pause?: Plan["pause"];
}

export interface ViewInput {
  plan: ViewPlan;
  /** The run's records so far, by step id (RunProgress.records). */
  records: ReadonlyMap<string, StepRecord>;
  /** Milliseconds since the epoch, now and when the run started. */
  now: number;
  startedAt: number;
  /** Seconds each step took in the last run, by step id (its timeline's end events). */
  lastSeconds?: ReadonlyMap<string, number>;
  /** The terminal's size: the view never has more lines than `rows` nor a line wider than `columns`. */
  columns: number;
  rows: number;
}

/** Above this many nodes (or when one line per node would not fit), nodes are shown by wave. */
export const FOLD_ABOVE_NODES = 20;

type State = "pending" | "running" | "done" | "failed";

const MARK: Record<State, string> = { pending: ".", running: ">", done: "+", failed: "X" };

/** `0:07`, `12:30`, `1:02:03`. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

function stateOf(record: StepRecord | undefined): State {
  return record === undefined ? "pending" : record.status === "running" ? "running" : record.status;
}

const secondsSince = (iso: string, now: number): number => {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? 0 : (now - at) / 1000;
};

/** How long a step has run (running) or ran (done, failed). */
function stepSeconds(record: StepRecord, now: number): number {
  if (record.seconds !== undefined) return record.seconds;
  if (record.endedAt !== undefined) return (Date.parse(record.endedAt) - Date.parse(record.startedAt)) / 1000;
  return secondsSince(record.startedAt, now);
}

/** A progress line without its `[step] +1.2s ` prefix. */
export function messageText(message: string): string {
  return message.replace(/^\[[^\]]*\] \+[\d.]+s /, "");
}

/**
 * What a running step waits for, in a few words, from its latest progress line: the sessions a
 * drain waits out, the imports in flight, an admit's health, a bake's errors; else the line itself.
 */
export function waitingFor(record: StepRecord): string {
  if (record.status === "failed") {
    return `FAILED: ${(record.failure?.message ?? "").split("\n")[0]}`;
  }
  if (record.status === "done") return "";
  const text = messageText(record.lastMessage ?? "");
  if (text === "started" || text === "") return "";
  const sessions = /(\d+) session\(s\) in flight/.exec(text);
  if (sessions) return `${sessions[1]} request(s) in flight`;
  const imports = /waiting for (\d+) image import\(s\) in flight/.exec(text);
  if (imports) return `${imports[1]} image import(s) in flight`;
  if (/health forced down|health check/.test(text)) return "waiting for health checks";
  const answer = /^waiting for (\S+) to answer 200/.exec(text);
  if (answer) return `health: waiting for 200 from ${answer[1]}`;
  const health = /^(https?:\/\/\S+): (.*)$/.exec(text);
  if (health) return `health: ${health[2]}`;
  const bake = /^bake at [\d.]+ s: (\d+) error\(s\) \(budget (\d+)\)/.exec(text);
  if (bake) return `bake: ${bake[1]} error(s), budget ${bake[2]}`;
  const baking = /^baking \S+ for (\d+) s/.exec(text);
  if (baking) return `bake: 0 error(s) so far (${baking[1]} s window)`;
  return text;
}

/** Cuts a line to `columns` characters (an ellipsis marks a cut). */
export function fit(line: string, columns: number): string {
  const chars = [...line];
  if (chars.length <= columns) return line;
  return columns <= 1 ? chars.slice(0, columns).join("") : `${chars.slice(0, columns - 1).join("")}~`;
}

/**
 * Seconds until the run ends, by the plan's order (each step after the steps it waits for): a step
 * takes what it took in the last run, else the median of this run's and the last run's steps of its
 * kind. `unknown` counts the steps with no estimate (they count as 0 s).
 */
export function remainingSeconds(input: ViewInput): { seconds: number; unknown: number } {
  const { plan, records, now, lastSeconds = new Map<string, number>() } = input;
  const byKind = new Map<string, number[]>();
  const add = (kind: string, seconds: number) => byKind.set(kind, [...(byKind.get(kind) ?? []), seconds]);
  for (const step of plan.steps) {
    const last = lastSeconds.get(step.id);
    if (last !== undefined) add(step.kind, last);
    const record = records.get(step.id);
    if (record?.status === "done") add(step.kind, stepSeconds(record, now));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const finish = new Map<string, number>();
  let unknown = 0;
  let end = 0;
  for (const step of plan.steps) {
    const record = records.get(step.id);
    const ready = Math.max(0, ...step.after.map((id) => finish.get(id) ?? 0));
    let left = 0;
    if (record?.status !== "done") {
      const sample = byKind.get(step.kind);
      const estimate = lastSeconds.get(step.id) ?? (sample ? median(sample) : undefined);
      if (estimate === undefined) unknown += 1;
      left = Math.max(0, (estimate ?? 0) - (record ? stepSeconds(record, now) : 0));
    }
    const done = (record?.status === "running" ? 0 : ready) + left;
    finish.set(step.id, done);
    end = Math.max(end, done);
  }
  return { seconds: end, unknown };
}

/** One node's steps and where they are. */
interface NodeView {
  node: string;
  wave: number | undefined;
  steps: PlanStep[];
  state: State;
  line: string;
}

function nodeView(node: string, wave: number | undefined, steps: PlanStep[], input: ViewInput): NodeView {
  const { records, now } = input;
  const states = steps.map((s) => stateOf(records.get(s.id)));
  const doneCount = states.filter((s) => s === "done").length;
  const failedAt = states.indexOf("failed");
  const runningAt = states.indexOf("running");
  const state: State =
    failedAt >= 0 ? "failed" : runningAt >= 0 ? "running" : doneCount === steps.length ? "done" : "pending";
  const currentAt =
    failedAt >= 0
      ? failedAt
      : runningAt >= 0
        ? runningAt
        : state === "done"
          ? steps.length - 1
          : Math.max(0, states.indexOf("pending"));
  const current = steps[currentAt];
  const record = records.get(current.id);
  const shown = state === "done" ? "done" : state === "pending" && doneCount === 0 ? "waiting" : current.kind;
  const seconds = record && state !== "done" ? clock(stepSeconds(record, now)) : "";
  const total = steps
    .map((s) => records.get(s.id))
    .filter((r): r is StepRecord => r !== undefined && r.status !== "running")
    .reduce((sum, r) => sum + stepSeconds(r, now), 0);
  const detail = record && state !== "done" && state !== "pending" ? waitingFor(record) : "";
  const line =
    `${MARK[state]} ${node.padEnd(10)} ${`${doneCount}/${steps.length}`.padStart(5)}  ` +
    `${shown.padEnd(13)} ${(seconds || (state === "done" ? clock(total) : "")).padStart(7)}  ${detail}`;
  return { node, wave, steps, state, line: line.trimEnd() };
}

/** `items` joined by two spaces, over as many lines as `columns` needs, the first after `label`. */
function packed(label: string, items: readonly string[], columns: number): string[] {
  const lines: string[] = [];
  let line = label;
  for (const item of items) {
    if (line.length > label.length && line.length + 2 + item.length > columns) {
      lines.push(line);
      line = " ".repeat(label.length);
    }
    line += line.length > label.length ? `  ${item}` : item;
  }
  return [...lines, line];
}

/**
 * The database steps on one line, the other fleet-wide steps (preflight, fleet/verify) and the nodes'
 * version reports on another, then the running or failed one of them with its detail.
 */
function fleetWideLines(input: ViewInput): string[] {
  const { plan, records, now, columns } = input;
  const mark = (step: PlanStep, name: string) => `${name} ${MARK[stateOf(records.get(step.id))]}`;
  const db = plan.steps.filter((s) => s.scope === "db");
  const fleet = plan.steps.filter((s) => s.scope !== "db" && s.scope !== "node");
  const versions = nodeViews(input, (s) => s.kind === "version");
  const lines = [
    ...(db.length > 0
      ? packed(
          "database  ",
          db.map((s) => mark(s, s.kind)),
          columns,
        )
      : []),
    ...(fleet.length + versions.length > 0
      ? packed(
          "fleet     ",
          [
            ...fleet.filter((s) => s.kind === "preflight").map((s) => mark(s, s.id)),
            ...(versions.length > 0 ? [`version reports ${tally(versions)}`] : []),
            ...fleet.filter((s) => s.kind !== "preflight").map((s) => mark(s, s.id)),
          ],
          columns,
        )
      : []),
  ];
  for (const step of [...db, ...fleet]) {
    const record = records.get(step.id);
    if (record && (record.status === "running" || record.status === "failed")) {
      lines.push(
        `  ${MARK[stateOf(record)]} ${step.id} ${clock(stepSeconds(record, now))}  ${waitingFor(record)}`,
      );
    }
  }
  return lines;
}

function checkpointLine(input: ViewInput): string[] {
  const { pause, release } = input.plan;
  if (!pause) return [];
  const reached = input.records.get(pause.afterStep)?.status === "done";
  if (!pause.active) return [`checkpoint after ${pause.afterStep}: approved (${release})`];
  return [
    reached
      ? `checkpoint after ${pause.afterStep}: PAUSED here until ${release} is approved`
      : `checkpoint after ${pause.afterStep}: the run pauses there until ${release} is approved`,
  ];
}

/** Every node's view, in wave order (a node in no wave, such as a rollback's, last). */
function nodeViews(input: ViewInput, kinds?: (step: PlanStep) => boolean): NodeView[] {
  const { plan } = input;
  const order: string[] = [];
  const waveOf = new Map<string, number>();
  for (const wave of plan.waves)
    for (const node of wave.nodes) {
      if (!waveOf.has(node)) order.push(node);
      waveOf.set(node, wave.index);
    }
  const byNode = new Map<string, PlanStep[]>();
  for (const step of plan.steps) {
    if (step.scope !== "node" || step.node === undefined || (kinds && !kinds(step))) continue;
    if (!waveOf.has(step.node) && !order.includes(step.node)) order.push(step.node);
    byNode.set(step.node, [...(byNode.get(step.node) ?? []), step]);
  }
  return order
    .filter((node) => byNode.has(node))
    .map((node) => nodeView(node, waveOf.get(node), byNode.get(node) ?? [], input));
}

/** `12/50 done, 3 running` for a set of node views. */
function tally(views: readonly NodeView[]): string {
  const count = (state: State) => views.filter((v) => v.state === state).length;
  const parts = [`${count("done")}/${views.length} done`];
  if (count("running") > 0) parts.push(`${count("running")} running`);
  if (count("failed") > 0) parts.push(`${count("failed")} FAILED`);
  return parts.join(", ");
}

const nodes = (count: number): string => `${count} node${count === 1 ? "" : "s"}`;

const waveRange = (waves: readonly number[]): string =>
  waves.length === 1 ? `wave ${waves[0]}` : `waves ${waves[0]}-${waves[waves.length - 1]}`;

/**
 * The nodes by wave: the finished waves and the waves to come each folded into one line, the active
 * waves with their running and failed nodes.
 */
function foldedLines(input: ViewInput, budget: number): string[] {
  // The prestages (all at once, early) on one line; the version reports are on the fleet line.
  const change = nodeViews(input, (s) => s.kind !== "prestage" && s.kind !== "version");
  const prestages = nodeViews(input, (s) => s.kind === "prestage");
  const lines = prestages.length > 0 ? [`prestage  ${tally(prestages)}`] : [];
  const waves = [...new Set(change.map((v) => v.wave ?? -1))].sort((a, b) => a - b);
  const waveState = (wave: number): State => {
    const views = change.filter((v) => (v.wave ?? -1) === wave);
    if (views.some((v) => v.state === "failed")) return "failed";
    if (views.some((v) => v.state === "running")) return "running";
    if (views.every((v) => v.state === "done")) return "done";
    return views.some((v) => v.state === "done") ? "running" : "pending";
  };
  let group: { state: State; waves: number[] } | undefined;
  const flush = () => {
    if (!group) return;
    const views = change.filter((v) => group?.waves.includes(v.wave ?? -1));
    lines.push(`${MARK[group.state]} ${waveRange(group.waves)} (${nodes(views.length)}): ${tally(views)}`);
    group = undefined;
  };
  for (const wave of waves) {
    const state = waveState(wave);
    if (state === "done" || state === "pending") {
      if (group && group.state !== state) flush();
      group ??= { state, waves: [] };
      group.waves.push(wave);
      continue;
    }
    flush();
    const views = change.filter((v) => (v.wave ?? -1) === wave);
    lines.push(`${MARK[state]} ${waveRange([wave])} (${nodes(views.length)}): ${tally(views)}`);
    for (const view of views.filter((v) => v.state === "running" || v.state === "failed")) {
      lines.push(`  ${view.line}`);
    }
  }
  flush();
  if (lines.length <= budget) return lines;
  // Too many active nodes for the screen: the waves and the failed nodes, then the running ones that fit.
  const isRunning = (line: string) => line.startsWith(`  ${MARK.running}`);
  const room = Math.max(0, budget - lines.filter((line) => !isRunning(line)).length - 1);
  let running = 0;
  const kept = lines.filter((line) => !isRunning(line) || running++ < room);
  return [...kept, `  ... and ${lines.length - kept.length} more node(s) running`];
}

/** The view's lines: never more than `rows`, none wider than `columns`. */
export function renderView(input: ViewInput): string[] {
  const { plan, records, now, startedAt, columns, rows } = input;
  const planned = plan.steps.length;
  const done = plan.steps.filter((s) => records.get(s.id)?.status === "done").length;
  const failed = plan.steps.filter((s) => records.get(s.id)?.status === "failed");
  const { seconds, unknown } = remainingSeconds(input);
  const remaining =
    unknown > 0 && unknown === planned - done
      ? "remaining: no estimate yet"
      : `remaining ${unknown > 0 ? ">" : "~"}${clock(seconds)}`;
  const header = [
    `${plan.title}: release ${plan.release}  elapsed ${clock((now - startedAt) / 1000)}  ${remaining}  ` +
      `steps ${done}/${planned} done${failed.length > 0 ? `, ${failed.length} FAILED` : ""}`,
  ];
  const footer = [...fleetWideLines(input), ...checkpointLine(input)];
  const nodeBudget = rows - header.length - footer.length;
  const all = nodeViews(input, (s) => s.kind !== "version");
  const nodeLines =
    all.length <= FOLD_ABOVE_NODES && all.length <= nodeBudget
      ? all.map((v) => v.line)
      : foldedLines(input, nodeBudget);
  return [...header, ...nodeLines, ...footer].slice(0, Math.max(1, rows)).map((line) => fit(line, columns));
}

/** The view of `up`'s plan: the steps this run registers (up to an active checkpoint). */
export function viewPlanOf(plan: Plan, steps: readonly PlanStep[], title = "up"): ViewPlan {
  return {
    title,
    release: plan.targetRelease,
    steps,
    waves: plan.waves,
    ...(plan.pause ? { pause: plan.pause } : {}),
  };
}
