import { ConfigError } from "../../plan/config";
import { rollbackProgram } from "../../components/program";
import { restoreAfterFailure, settingRecord } from "../mysqlSetting";
import { buildPlan, rollbackSteps } from "../../plan/plan";
import { contractProgress, contractWords, upgradedNodes } from "../resume";
import { defaultLocation, openStack } from "../stack";
import { CommandHandler, EXIT_FAILED } from "./context";
import { say } from "./output";
import { outputMode, showRun } from "../view/screen";

/** Returns the upgraded nodes to `rollbackTo`, one at a time, while db contract has not run. */
export const rollback: CommandHandler = async ({
  options,
  files,
  stack,
  config,
  adminPassword,
  log,
  progress: records,
}) => {
  const stackConfig = await config();
  const target = stackConfig.rollbackTo;
  if (!target) {
    throw new ConfigError([
      `stack ${options.stack}: set glance-rolling-upgrade:rollbackTo (release, version) to roll back`,
    ]);
  }
  const state = await stack.exportStack();
  const contract = contractProgress(state, buildPlan(stackConfig));
  if (contract !== "not-started") {
    say(
      `[driver] refused: ${contractWords(contract, stackConfig.targetRelease)}, so release ${target.release} ` +
        "cannot run on this schema. Restore the pre-upgrade backup instead (README: recovery)" +
        (contract === "started" ? ", or run `up` to finish db contract and stay on the new release." : "."),
    );
    return EXIT_FAILED;
  }
  const fleet = new Set(stackConfig.nodes.map((n) => n.name));
  const upgraded = upgradedNodes(state, stackConfig.targetRelease);
  const nodes = upgraded.filter((n) => fleet.has(n));
  for (const provisioned of upgraded.filter((n) => !fleet.has(n))) {
    say(
      `[driver] ${provisioned} is a provisioned NEW NODE: rollback leaves it as it is; detach it from the target group by hand if needed`,
    );
  }
  if (nodes.length === 0) {
    say(`[driver] no node was upgraded to ${stackConfig.targetRelease}: nothing to roll back`);
    return 0;
  }
  say(`[driver] rolling back ${nodes.join(", ")} to ${target.release}, one at a time; no database step runs`);
  say(
    `[driver] ${await restoreAfterFailure(settingRecord(state, stackConfig.database.adminUser !== undefined), stackConfig, adminPassword, log)}`,
  );
  const rollbackStack = await openStack(defaultLocation(options.stack, options.workDir), files, {
    program: () => rollbackProgram(nodes),
  });
  const steps = rollbackSteps(stackConfig, nodes);
  const progress = showRun(outputMode(options, process.stdout.isTTY === true), files, records, {
    title: "rollback",
    release: target.release,
    steps,
    waves: nodes.map((node, i) => ({ index: i + 1, nodes: [node] })),
  });
  try {
    await rollbackStack.stack.up({ onOutput: progress.onOutput, color: "never" });
  } finally {
    progress.stop();
  }
  say(
    `[driver] rolled back: ${nodes.join(", ")} run ${target.release}; the schema stays expanded, not contracted`,
  );
  return 0;
};
