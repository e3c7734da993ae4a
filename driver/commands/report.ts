import { renderSummary, Summary } from "../summary";
import { CommandHandler, EXIT_FAILED } from "./context";
import { say } from "./output";

/** Prints the summary of the stack's last completed upgrade. */
export const report: CommandHandler = async ({ options, stack }) => {
  const outputs = await stack.outputs();
  const summary = outputs.summary?.value as Summary | undefined;
  if (!summary) {
    say(`stack ${options.stack} has no completed upgrade to report`);
    return EXIT_FAILED;
  }
  say(renderSummary(summary));
  return 0;
};
