import { ConcurrentUpdateError, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { renderRunbook, stepsToRun } from "../../plan/plan";
import { reapplyBeforeResume, restoreAfterFailure, settingRecord } from "../mysqlSetting";
import { contractProgress, contractWords, passedChecks, startsToRepeat } from "../resume";
import { passChecks } from "../../components/program";
import { exportedState } from "../site";
import { legacyCommandRefusal } from "../legacyCommandState";
import { urnName } from "../state";
import { renderSummary, Summary } from "../summary";
import { runbookTimes } from "../lbTimes";
import { upReadingEvents } from "../upResult";
import { CommandHandler, EXIT_FAILED, validatedPlan } from "./context";
import { firstLines, say } from "./output";
import { outputMode, showRun } from "../view/screen";
import { viewPlanOf } from "../view/render";

/**
 * Runs the upgrade, or resumes it: finished steps are not repeated. After a failure (or at a
 * checkpoint) the MySQL setting is put back while the fleet waits.
 */
export const up: CommandHandler = async ({
  options,
  files,
  opened,
  stack,
  config,
  initialState,
  adminPassword,
  log,
  progress,
}) => {
  // Both read-only CLI processes started with the stack site (startEarlyReads).
  const [plan, state] = await Promise.all([config().then((c) => validatedPlan(opened, c)), initialState()]);
  const stackConfig = await config();
  say(renderRunbook(plan, await runbookTimes(stackConfig)));
  const legacy = legacyCommandRefusal(state, stackConfig.targetRelease);
  if (legacy) {
    say(`\nup REFUSED: ${legacy}\n[driver] Nothing was changed (no step ran, no setting was touched).`);
    return EXIT_FAILED;
  }
  say(`\nrun records: ${files.dir}`);
  const admin = stackConfig.database.adminUser !== undefined;
  // Set again only inside the program, which the engine runs once it holds the stack's lock: an up
  // refused by another run's lock changes nothing.
  const program = programAfter(stack, async () => {
    const reapplied = await reapplyBeforeResume(settingRecord(state, admin), stackConfig, adminPassword, log);
    if (reapplied) say(`[driver] ${reapplied}`);
  });
  const replace = startsToRepeat(state, stackConfig.targetRelease, stackConfig.bake.windowSeconds > 0);
  if (replace.length > 0) {
    say(
      `[driver] resuming: ${replace.map(urnName).join(", ")} run again (their health gate or bake did not pass)`,
    );
  }
  const passed = passedChecks(state, plan);
  if (passed.length > 0) say(`[driver] ${passedWords(passed, stackConfig.targetRelease)}`);
  passChecks(passed);
  const mode = outputMode(options, process.stdout.isTTY === true);
  const following = showRun(mode, files, progress, viewPlanOf(plan, stepsToRun(plan, passed)));
  try {
    const result = await upReadingEvents(stack, {
      onOutput: following.onOutput,
      color: "never",
      replace,
      program,
    });
    following.stop();
    say(`\nup: ${result.summary.result}; ${JSON.stringify(result.summary.resourceChanges ?? {})}`);
    say(renderSummary((result.outputs.summary?.value ?? {}) as Summary));
    if (plan.pause?.active) {
      const paused = settingRecord(await exportedState(opened.site), admin);
      say(`[driver] ${await restoreAfterFailure(paused, stackConfig, adminPassword, log)}`);
      say(
        `[driver] PAUSED after ${plan.pause.afterStep}: the fleet serves, no later node was touched and db contract has not run.\n` +
          `[driver] Check the upgraded nodes, then approve ${stackConfig.targetRelease} with ` +
          `\`node dist/driver/cli.js approve --stack ${options.stack}\` and run \`up\` again.`,
      );
    }
    return 0;
  } catch (error) {
    following.stop();
    if (error instanceof ConcurrentUpdateError) {
      say(`\nup REFUSED: ${lockHolders(error)}`);
      say(
        "[driver] Another run holds this stack's lock, so this one changed nothing (no step ran, no setting was touched).\n" +
          "[driver] Wait for that run to finish, then run `up` again: finished steps are not repeated. " +
          "Do not remove the lock (`pulumi cancel`) while that run is alive; for a run that died, see README: recovery.",
      );
      return EXIT_FAILED;
    }
    say(`\nup FAILED: ${firstLines(error)}`);
    // This run's own records (the state keeps no failed step): the failed step with its reason.
    if ([...progress.records.values()].some((record) => record.status === "failed"))
      say(`\n${renderSummary(progress.records)}\n`);
    const failedState = await exportedState(opened.site);
    const after = settingRecord(failedState, admin);
    say(`[driver] ${await restoreAfterFailure(after, stackConfig, adminPassword, log)}`);
    const contract = contractProgress(failedState, plan);
    say(
      contract === "not-started"
        ? "[driver] The fleet keeps serving: the failed node stays out of rotation and db contract did not run.\n" +
            "[driver] Fix the cause shown above, then run `up` again: finished steps are not repeated."
        : `[driver] The fleet keeps serving the new release; ${contractWords(contract, stackConfig.targetRelease)}: ` +
            "`rollback` is refused from here.\n" +
            "[driver] Fix the cause shown above, then run `up` again to finish; if it cannot finish, restore the " +
            "pre-upgrade backup (README: recovery).",
    );
    return EXIT_FAILED;
  }
};

/**
 * The stack's inline program with `first` run before it. The engine starts the program only once it
 * holds the stack's lock (pulumi v3.274.1 pkg/backend/diy/backend.go: `Update` calls `b.Lock` before
 * `PreviewThenPromptThenExecute`, whose engine run starts the language host).
 */
export function programAfter(stack: Stack, first: () => Promise<void>): PulumiFn {
  const inline = stack.workspace.program;
  if (!inline) throw new Error("the driver runs its program inline; this stack has none");
  return async () => {
    await first();
    return inline();
  };
}

/** The engine's lock refusal: "the stack is currently locked by N lock(s)" and who holds each. */
function lockHolders(error: ConcurrentUpdateError): string {
  const lines = error.message.split("\n");
  const start = lines.findIndex((l) => l.includes("the stack is currently locked by"));
  if (start < 0) return "the stack is locked by another run";
  const count = /locked by (\d+) lock/.exec(lines[start])?.[1] ?? "1";
  const holders = new Set(
    lines
      .slice(start + 1)
      .filter((l) => /created by /.test(l))
      .map((l) => `  ${l.replace(/^.*: created by /, "held by ")}`),
  );
  return [`the stack is locked by ${count} other run(s)`, ...holders].join("\n");
}

/** What the driver says when a resumed state has passed the place of checks a later build added. */
export function passedWords(passed: readonly string[], release: string): string {
  return (
    `resuming a state written by an earlier build of this program: ${passed.join(", ")} came with a later ` +
    `build, and the chain for ${release} is past its place (the step after it finished), so it does not ` +
    "run for this release: a check run now would come after the schema change it guards"
  );
}
