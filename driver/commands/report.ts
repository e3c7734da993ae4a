import * as path from "node:path";
import type { StepRecord } from "../../steps/progress";
import { buildReport } from "../report/model";
import { latestUpgradeRuns, REPORT_FILE, writeReportPage } from "../report/records";
import { renderSummary, Summary, summaryRecords } from "../summary";
import { CommandHandler, EXIT_FAILED } from "./context";
import { say } from "./output";

/**
 * Prints the summary of the stack's last upgrade; with `--html`, writes the report page too. Both
 * are read from the run records beside this run's (the runs of one upgrade joined: a checkpoint and
 * its approved run, a failure and its resume), so a failed or halted upgrade is reported too; a
 * completed upgrade's table from the state's summary, as before, which also stands in for run
 * records kept on another machine.
 */
export const report: CommandHandler = async ({ options, stack, files }) => {
  const outputs = await stack.outputs();
  const summary = outputs.summary?.value as Summary | undefined;
  const fromState = summary
    ? [{ name: "state summary", command: "summary", records: [...summaryRecords(summary).values()] }]
    : [];
  const { runs, loads } = latestUpgradeRuns(path.dirname(files.dir), fromState);
  const model = buildReport({ stack: options.stack, runs, loads });
  if (model.runs.length === 0) {
    say(`stack ${options.stack} has no upgrade to report: no summary in its state and no run records`);
    return EXIT_FAILED;
  }
  if (summary && model.outcome === "completed") say(renderSummary(summary));
  else {
    say(`latest upgrade: ${model.outcome} (run records: ${model.runs.map((r) => r.name).join(", ")})`);
    // The latest record of each step across the joined runs (a resumed step's last attempt).
    const latest = new Map<string, StepRecord>();
    for (const run of runs) for (const record of run.records) latest.set(record.step, record);
    say(renderSummary(latest));
  }
  if (options.html) say(`report page: ${writeReportPage(path.join(files.dir, REPORT_FILE), model)}`);
  return 0;
};
