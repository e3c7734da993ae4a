/**
 * The report page's I/O: reads a stack's run records (each run's folder: timeline.jsonl, and
 * load.json where the lab's load ran beside it) and writes the page into a run's folder.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { recordsOf, type StepRecord } from "../../steps/progress";
import { readTimeline } from "../../steps/record";
import { buildReport, latestUpgrade, LoadSeries, ReportModel, RunInput } from "./model";
import { renderReportPage } from "./page";

export const REPORT_FILE = "report.html";
/** The lab load's counts per second beside a run (written by the rehearsal and the e2e tests). */
export const LOAD_FILE = "load.json";

/** The command a run folder was written by: `<time>-up`, `3-up`, `2-rollback`. */
export function commandOfRun(name: string): string {
  return /-(up|rollback|plain-up)$/.exec(name)?.[1] ?? name.split("-").at(-1) ?? name;
}

/** One run folder's records (none for a run that ran no step). */
export function readRun(dir: string): RunInput {
  const name = path.basename(dir);
  let records: StepRecord[] = [];
  try {
    records = recordsOf(readTimeline(path.join(dir, "timeline.jsonl")));
  } catch {
    // A torn last line (a killed run): the report shows what can be read.
    records = recordsOf(
      readFileSync(path.join(dir, "timeline.jsonl"), "utf8")
        .split("\n")
        .flatMap((line) => {
          try {
            return line.trim() ? [JSON.parse(line)] : [];
          } catch {
            return [];
          }
        }),
    );
  }
  return { name, command: commandOfRun(name), records };
}

/** The load beside a run, if one was recorded. */
export function readLoad(dir: string): LoadSeries | undefined {
  const file = path.join(dir, LOAD_FILE);
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<LoadSeries>;
  return typeof parsed.startedAt === "number" && Array.isArray(parsed.perSecond)
    ? { startedAt: parsed.startedAt, perSecond: parsed.perSecond }
    : undefined;
}

/** Every run folder under `root` (a stack's run records), with the loads recorded beside them. */
export function readRuns(root: string): { runs: RunInput[]; loads: LoadSeries[] } {
  if (!existsSync(root)) return { runs: [], loads: [] };
  const dirs = readdirSync(root)
    .map((name) => path.join(root, name))
    .filter((dir) => statSync(dir).isDirectory());
  return {
    runs: dirs.map(readRun).filter((run) => run.records.length > 0),
    loads: dirs.flatMap((dir) => readLoad(dir) ?? []),
  };
}

/**
 * The runs of the latest upgrade among the run records under `root` (joined), or `fallback` when
 * there are none, with the loads recorded there.
 */
export function latestUpgradeRuns(
  root: string,
  fallback: RunInput[] = [],
): { runs: RunInput[]; loads: LoadSeries[] } {
  const { runs, loads } = readRuns(root);
  const joined = latestUpgrade(runs);
  return { runs: joined.length > 0 ? joined : fallback, loads };
}

/** The latest upgrade among the run records under `root`, as a report model. */
export function latestUpgradeReport(stack: string, root: string, fallback: RunInput[] = []): ReportModel {
  return buildReport({ stack, ...latestUpgradeRuns(root, fallback) });
}

/** Writes the page for `model` to `file`; returns the file. */
export function writeReportPage(file: string, model: ReportModel): string {
  writeFileSync(file, renderReportPage(model));
  return file;
}

/**
 * After a run: the page of the upgrade it belongs to, joined with the earlier runs of that upgrade
 * beside it, into its own folder. Never fails the run: a report is a record.
 */
export function writeRunReport(stack: string, runDir: string): string | undefined {
  try {
    return writeReportPage(path.join(runDir, REPORT_FILE), latestUpgradeReport(stack, path.dirname(runDir)));
  } catch {
    return undefined;
  }
}
