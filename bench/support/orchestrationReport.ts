/** The orchestration benchmark's tables: the lab comparison, its rounds, and their verdict. */
import { changeSummary, DriverRun } from "./benchStack";
import { FloorRun, FloorStep } from "./floor";
import { GapSummary, StepWindow, windowsFromFloor, windowsFromTimeline, workMs } from "./gaps";
import { median, millis, printTable, ratioLine, seconds } from "./report";
import { parseStepId } from "../../plan/stepIds";

/** Issue 25's goals: driver/floor on the 3-node lab, and on the realistic (wheelhouse, prestage) lab. */
export const GOAL_RATIO = { lab: 1.1, realistic: 1.02 } as const;

export interface Comparison {
  steps: FloorStep[];
  up: DriverRun;
  floor: FloorRun;
  driverGaps: GapSummary;
  floorGaps: GapSummary;
}

export function reportLabComparison(
  r: Comparison,
  fixed: { plan: DriverRun; freshPreview: DriverRun; noopUp: DriverRun; noopPreview: DriverRun },
  labNodes: number,
): void {
  const n = r.steps.length;
  const upWork = workMs(windowsFromTimeline(r.up.timeline));
  const floorWork = workMs(windowsFromFloor(r.floor.steps));
  printTable(
    `Lab upgrade of ${labNodes} real Glance nodes (27.1.1 -> 28.2.0), ${n} steps, nodes as local commands`,
    ["run", "wall", "first step -> last step", "sum of step run times", "median gap between steps"],
    [
      [
        "driver up (engine)",
        seconds(r.up.wallMs),
        seconds(stepSpan(r.up)),
        seconds(upWork),
        millis(r.driverGaps.medianMs),
      ],
      [
        "floor (plain script, runStep)",
        seconds(r.floor.wallMs),
        seconds(r.floor.stepsMs),
        seconds(floorWork),
        millis(r.floorGaps.medianMs, 1),
      ],
    ],
  );
  printTable(
    "Engine fixed cost (driver process from spawn to exit)",
    ["run", "wall", "runbook printed at", "engine output at"],
    [
      ["plan (start-up: workspace, config, validation; no engine op)", fixed.plan],
      [
        `preview, fresh stack (${JSON.stringify(changeSummary(fixed.freshPreview.stdout))})`,
        fixed.freshPreview,
      ],
      ["up, no-op (all same)", fixed.noopUp],
      ["preview, no-op", fixed.noopPreview],
    ].map(([label, run]) => {
      const d = run as DriverRun;
      return [
        label as string,
        seconds(d.wallMs),
        d.phases.runbook === undefined ? "-" : seconds(d.phases.runbook),
        d.phases.engine === undefined ? "-" : seconds(d.phases.engine),
      ];
    }),
  );
  printTable(
    "Step run times by kind, summed (driver timeline vs floor)",
    ["kind", "steps", "driver", "floor"],
    byKind(r.steps, windowsFromTimeline(r.up.timeline), windowsFromFloor(r.floor.steps)),
  );
  const overheadMs = r.up.wallMs - r.floor.wallMs;
  const outside = r.up.wallMs - stepSpan(r.up);
  printTable(
    "Where the driver's extra time goes",
    ["part", "time"],
    [
      ["driver wall - floor wall", seconds(overheadMs)],
      ["  before the first step and after the last (start-up, engine, program, summary)", seconds(outside)],
      [
        `  between steps (sum of ${r.driverGaps.steps} gaps; floor: ${millis(r.floorGaps.totalMs)})`,
        seconds(r.driverGaps.totalMs),
      ],
      ["  steps themselves running longer than in the floor", seconds(upWork - floorWork)],
      [`engine cost per step, all-in ((driver - floor) / ${n})`, millis(overheadMs / n)],
      ["engine cost per step, between steps only (mean gap)", millis(r.driverGaps.meanMs)],
      [
        "median gap, first quarter -> last quarter of the steps",
        `${millis(r.driverGaps.firstQuarterMs)} -> ${millis(r.driverGaps.lastQuarterMs)}`,
      ],
    ],
  );
}

export function reportRounds(
  rounds: Array<{ driverMs: number; floorMs: number; first: string }>,
  lab: keyof typeof GOAL_RATIO = "lab",
): void {
  const goal = GOAL_RATIO[lab];
  const ratios = rounds.map((r) => r.driverMs / r.floorMs);
  printTable(
    `Lab upgrade, driver vs floor over ${rounds.length} rounds (fresh lab and stack each time)`,
    ["round", "first", "driver up", "floor", "driver - floor", "ratio"],
    rounds.map((r, i) => [
      String(i + 1),
      r.first,
      seconds(r.driverMs),
      seconds(r.floorMs),
      seconds(r.driverMs - r.floorMs),
      ratios[i].toFixed(3),
    ]),
  );
  const medianRatio = median(ratios);
  console.log(
    `median driver - floor: ${seconds(median(rounds.map((r) => r.driverMs - r.floorMs)))}; ` +
      `ratios from ${Math.min(...ratios).toFixed(3)} to ${Math.max(...ratios).toFixed(3)}`,
  );
  ratioLine(
    `orchestration driver/floor (3 real nodes${lab === "realistic" ? ", wheelhouse installs with prestage" : ""}, median of ${rounds.length} rounds)`,
    medianRatio,
    `<= ${goal}`,
    medianRatio <= goal,
  );
}

function byKind(
  steps: FloorStep[],
  driver: Map<string, StepWindow>,
  floor: Map<string, StepWindow>,
): string[][] {
  // A node kind by its name; a database or fleet kind with its scope (db/verify and fleet/verify).
  const label = (s: FloorStep): string => {
    const parsed = parseStepId(s.step);
    return parsed === undefined || parsed.scope === "node" || parsed.scope === "preflight"
      ? s.kind
      : `${parsed.scope}/${parsed.kind}`;
  };
  const kinds = [...new Set(steps.map(label))];
  const total = (windows: Map<string, StepWindow>, kind: string) =>
    steps
      .filter((s) => label(s) === kind)
      .reduce((sum, s) => {
        const w = windows.get(s.step);
        return sum + (w ? w.endMs - w.startMs : 0);
      }, 0);
  return kinds.map((kind) => [
    kind,
    String(steps.filter((s) => label(s) === kind).length),
    seconds(total(driver, kind)),
    seconds(total(floor, kind)),
  ]);
}

function stepSpan(run: DriverRun): number {
  const windows = [...windowsFromTimeline(run.timeline).values()];
  return Math.max(...windows.map((w) => w.endMs)) - Math.min(...windows.map((w) => w.startMs));
}
