/**
 * What the report page shows, computed from the runs of one upgrade: every step as a bar on its
 * lane (one per node, one for the database, one for the fleet-wide steps), failures and checkpoints,
 * the capacity in rotation over time, each node's time out of rotation against its floor (stop +
 * upgrade + start: the work that has to happen out of rotation), and the lab load's requests per
 * second. Pure: no I/O, no clock; time is read from the records only.
 */
import { parseStepId } from "../../plan/stepIds";
import type { StepRecord } from "../../steps/progress";

/** One driver run's records: its folder's name, its command, its steps' records. */
export interface RunInput {
  name: string;
  /** The driver command that wrote it (`up`, `rollback`); `summary` for records read from a state. */
  command: string;
  records: readonly StepRecord[];
}

/** The lab load's counts per second (lab/load: LoadReport.timeline), from its start (epoch ms). */
export interface LoadSeries {
  startedAt: number;
  perSecond: ReadonlyArray<{ second: number; requests: number; failures: number }>;
}

export interface ReportInput {
  stack: string;
  runs: readonly RunInput[];
  loads?: readonly LoadSeries[];
}

export type RunOutcome = "completed" | "failed" | "paused" | "interrupted" | "rolled back";

export interface RunSummary {
  name: string;
  command: string;
  start: number;
  end: number;
  outcome: RunOutcome;
  steps: number;
}

export interface Bar {
  lane: string;
  step: string;
  kind: string;
  run: number;
  start: number;
  end: number;
  status: StepRecord["status"];
  /** A failure's reason and message. */
  failure?: string;
}

export interface Mark {
  type: "failure" | "checkpoint";
  at: number;
  /** The failed step's lane; a checkpoint spans every lane. */
  lane?: string;
  label: string;
}

export interface NodeRotation {
  node: string;
  /** Seconds out of rotation: from the start of its drain to the end of its admit (summed over runs). */
  outSeconds?: number;
  /** stop + upgrade + start, when all three ended. */
  floorSeconds?: number;
  /** Still out of rotation at the end of the last run (its admit never ended). */
  stillOut: boolean;
}

/** Time to x: the runs laid side by side, each at one scale, with a fixed gap between them. */
export interface AxisSegment {
  run: number;
  from: number;
  to: number;
  x: number;
  width: number;
}

export interface Axis {
  x: number;
  width: number;
  gap: number;
  segments: AxisSegment[];
}

export interface ReportModel {
  stack: string;
  release?: string;
  outcome: RunOutcome | "no runs";
  runs: RunSummary[];
  lanes: string[];
  bars: Bar[];
  marks: Mark[];
  /** How many nodes serve, over time: a step function (count from `at` until the next point). */
  capacity: Array<{ at: number; inRotation: number }>;
  nodeCount: number;
  nodes: NodeRotation[];
  database: Bar[];
  load: Array<{ at: number; requests: number; failures: number }>;
  axis: Axis;
}

export const DB_LANE = "database";
export const FLEET_LANE = "fleet";

/** The kinds drawn on a node's lane, in the legend's order. */
export const NODE_BAR_KINDS = ["prestage", "drain", "stop", "upgrade", "start", "admit", "bake"] as const;

const ms = (iso: string | undefined): number | undefined => {
  if (!iso) return undefined;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? undefined : value;
};

/** The lane a step belongs on: its node's, the database's, or the fleet's. */
export function laneOf(step: string): string {
  const parsed = parseStepId(step);
  if (parsed?.scope === "node") return parsed.node;
  if (parsed?.scope === "db") return DB_LANE;
  // An id the table does not know (a test's kind): by its prefix.
  const [scope, ...rest] = step.split("/");
  if (rest.length > 0 && scope === "rollback" && rest.length > 1) return rest[0];
  if (scope === "db") return DB_LANE;
  if (rest.length > 0 && /^node|^new-node/.test(scope)) return scope;
  return FLEET_LANE;
}

const kindOf = (step: string): string => parseStepId(step)?.kind ?? step.split("/").at(-1) ?? step;

function runSpan(run: RunInput): { start: number; end: number } | undefined {
  const times = run.records.flatMap((r) => [ms(r.startedAt), ms(r.endedAt)]).filter((t) => t !== undefined);
  return times.length === 0 ? undefined : { start: Math.min(...times), end: Math.max(...times) };
}

const isRollback = (run: RunInput) =>
  run.command === "rollback" || run.records.some((r) => r.step.startsWith("rollback/"));
const completes = (run: RunInput) => run.records.some((r) => r.step === "db/contract" && r.status === "done");

function outcomeOf(run: RunInput): RunOutcome {
  if (run.records.some((r) => r.status === "failed")) return "failed";
  if (run.records.some((r) => r.status === "running")) return "interrupted";
  if (isRollback(run)) return "rolled back";
  return completes(run) ? "completed" : "paused";
}

/**
 * The runs of the latest upgrade, oldest first, out of a stack's runs (any order; runs without a
 * step are ignored): walking back from the latest, a run joins while it is for the same release
 * and is not an earlier completed upgrade or rollback. So a checkpoint then its approved run, a
 * failure then its resume, and an upgrade then its rollback are one picture.
 */
export function latestUpgrade(runs: readonly RunInput[]): RunInput[] {
  const ordered = runs
    .map((run) => ({ run, span: runSpan(run) }))
    .filter((r): r is { run: RunInput; span: { start: number; end: number } } => r.span !== undefined)
    .sort((a, b) => a.span.start - b.span.start)
    .map((r) => r.run);
  const releaseOf = (run: RunInput) =>
    isRollback(run) ? undefined : run.records.find((r) => r.release !== undefined)?.release;
  const group: RunInput[] = [];
  let release: string | undefined;
  for (const run of ordered.reverse()) {
    const hasUpgrade = group.some((r) => !isRollback(r));
    if (hasUpgrade && (completes(run) || isRollback(run))) break;
    const own = releaseOf(run);
    if (own !== undefined && release !== undefined && own !== release) break;
    release ??= own;
    group.unshift(run);
  }
  return group;
}

export const PLOT_X = 130;
export const PLOT_WIDTH = 1000;
export const RUN_GAP = 28;

/** Lays the runs side by side on PLOT_WIDTH pixels, at one scale, RUN_GAP pixels between two runs. */
export function axisOf(spans: ReadonlyArray<{ start: number; end: number }>): Axis {
  const gaps = Math.max(0, spans.length - 1) * RUN_GAP;
  const durations = spans.map((s) => Math.max(s.end - s.start, 1));
  const total = durations.reduce((a, b) => a + b, 0);
  const perMs = total > 0 ? (PLOT_WIDTH - gaps) / total : 0;
  let x = PLOT_X;
  const segments = spans.map((span, run) => {
    const width = durations[run] * perMs;
    const segment = { run, from: span.start, to: span.start + durations[run], x, width };
    x += width + RUN_GAP;
    return segment;
  });
  return { x: PLOT_X, width: PLOT_WIDTH, gap: RUN_GAP, segments };
}

/** The x of time `at` in run `run`'s segment (clamped to it); undefined for a run not on the axis. */
export function xAt(axis: Axis, run: number, at: number): number | undefined {
  const segment = axis.segments[run];
  if (!segment) return undefined;
  const clamped = Math.min(Math.max(at, segment.from), segment.to);
  return segment.x + ((clamped - segment.from) / (segment.to - segment.from)) * segment.width;
}

/** The run whose span holds `at`, if any. */
export function runAt(axis: Axis, at: number): number | undefined {
  return axis.segments.find((s) => at >= s.from && at <= s.to)?.run;
}

/** Seconds out of rotation for a node, its floor, and whether it is still out at the end. */
function rotationOf(node: string, bars: readonly Bar[]): NodeRotation {
  const own = bars.filter((b) => b.lane === node);
  const outs = outOfRotation(own, Number.POSITIVE_INFINITY);
  const closed = outs.filter((o) => Number.isFinite(o.to));
  const floorKinds = ["stop", "upgrade", "start"];
  const floorBars = own.filter((b) => floorKinds.includes(b.kind) && b.status === "done");
  const lastOfKind = floorKinds.map((kind) => floorBars.filter((b) => b.kind === kind).at(-1));
  return {
    node,
    ...(closed.length > 0 ? { outSeconds: closed.reduce((sum, o) => sum + (o.to - o.from), 0) / 1000 } : {}),
    ...(lastOfKind.every((b) => b !== undefined)
      ? { floorSeconds: lastOfKind.reduce((sum, b) => sum + (b.end - b.start), 0) / 1000 }
      : {}),
    stillOut: outs.some((o) => !Number.isFinite(o.to)),
  };
}

/**
 * A node's spans out of rotation: from each drain's start to the end of the admit after it; `until`
 * closes one whose admit never ended. A drain the capacity guard refused took nothing out.
 */
function outOfRotation(own: readonly Bar[], until: number): Array<{ from: number; to: number }> {
  const spans: Array<{ from: number; to: number }> = [];
  let open: number | undefined;
  for (const bar of [...own].sort((a, b) => a.start - b.start)) {
    if (bar.kind === "drain" && open === undefined) {
      if (bar.status === "failed" && bar.failure?.startsWith("CapacityBelowFloor")) continue;
      open = bar.start;
    } else if (bar.kind === "admit" && open !== undefined && bar.status === "done") {
      spans.push({ from: open, to: bar.end });
      open = undefined;
    }
  }
  if (open !== undefined) spans.push({ from: open, to: until });
  return spans;
}

export function buildReport(input: ReportInput): ReportModel {
  const runs = input.runs
    .map((run) => ({ run, span: runSpan(run) }))
    .filter((r): r is { run: RunInput; span: { start: number; end: number } } => r.span !== undefined)
    .sort((a, b) => a.span.start - b.span.start);
  const axis = axisOf(runs.map((r) => r.span));
  const bars: Bar[] = runs.flatMap(({ run, span }, index) =>
    run.records.flatMap((record) => {
      const start = ms(record.startedAt);
      if (start === undefined) return [];
      const end = ms(record.endedAt) ?? span.end;
      return [
        {
          lane: laneOf(record.step),
          step: record.step,
          kind: kindOf(record.step),
          run: index,
          start,
          end: Math.max(end, start),
          status: record.status,
          ...(record.failure
            ? { failure: `${record.failure.reason}: ${record.failure.message}`.trim() }
            : {}),
        },
      ];
    }),
  );
  const summaries: RunSummary[] = runs.map(({ run, span }) => ({
    name: run.name,
    command: run.command,
    start: span.start,
    end: span.end,
    outcome: outcomeOf(run),
    steps: run.records.length,
  }));
  const marks: Mark[] = [
    ...bars
      .filter((b) => b.status === "failed")
      .map((b) => ({
        type: "failure" as const,
        at: b.end,
        lane: b.lane,
        label: `${b.step} failed: ${b.failure ?? ""}`,
      })),
    ...summaries.flatMap((run, index) =>
      run.outcome === "paused" && run.command !== "summary"
        ? [
            {
              type: "checkpoint" as const,
              at: run.end,
              label:
                index < summaries.length - 1
                  ? "checkpoint: the chain stopped here; approved, the next run continued"
                  : "checkpoint: the chain stops here until the release is approved",
            },
          ]
        : [],
    ),
  ];
  // The fleet as the preflight found it (a node the chain never reached has a lane too), and any
  // node a step ran on (a provisioned NEW NODE).
  const fleet = runs.flatMap(({ run }) =>
    run.records.flatMap((r) => Object.keys(r.result.preflight?.versionsBefore ?? {})),
  );
  const nodeLanes = [...new Set([...fleet, ...bars.map((b) => b.lane)])].filter(
    (l) => l !== DB_LANE && l !== FLEET_LANE,
  );
  nodeLanes.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const lanes = [...[FLEET_LANE, DB_LANE].filter((lane) => bars.some((b) => b.lane === lane)), ...nodeLanes];
  const last = runs.at(-1)?.span.end ?? 0;
  const outs = nodeLanes.flatMap((node) =>
    outOfRotation(
      bars.filter((b) => b.lane === node),
      Number.POSITIVE_INFINITY,
    ),
  );
  const first = runs[0]?.span.start ?? 0;
  const changes = [...new Set([first, ...outs.flatMap((o) => [o.from, o.to])])].sort((a, b) => a - b);
  const capacity = changes
    .filter((at) => at <= last)
    .map((at) => ({
      at,
      inRotation: nodeLanes.length - outs.filter((o) => o.from <= at && at < o.to).length,
    }));
  const load = (input.loads ?? [])
    .flatMap((series) =>
      series.perSecond.map((p) => ({
        at: series.startedAt + p.second * 1000,
        requests: p.requests,
        failures: p.failures,
      })),
    )
    .filter((p) => runAt(axis, p.at) !== undefined)
    .sort((a, b) => a.at - b.at);
  const lastRun = runs.at(-1)?.run;
  const release =
    runs
      .filter(({ run }) => !isRollback(run))
      .flatMap(({ run }) => run.records)
      .find((r) => r.release !== undefined)?.release ?? undefined;
  return {
    stack: input.stack,
    ...(release === undefined ? {} : { release }),
    outcome: lastRun ? outcomeOf(lastRun) : "no runs",
    runs: summaries,
    lanes,
    bars,
    marks,
    capacity,
    nodeCount: nodeLanes.length,
    nodes: nodeLanes.map((node) => rotationOf(node, bars)),
    database: bars.filter((b) => b.lane === DB_LANE),
    load,
    axis,
  };
}
