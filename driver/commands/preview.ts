import { renderRunbook } from "../../plan/plan";
import { runbookTimes } from "../lbTimes";
import { CommandHandler, validatedPlan } from "./context";
import { engineOutputPrinter, say } from "./output";

/** The runbook, then the engine's preview of it. */
export const preview: CommandHandler = async ({ opened, stack, config }) => {
  const stackConfig = await config();
  const [plan, times] = await Promise.all([validatedPlan(opened, stackConfig), runbookTimes(stackConfig)]);
  say(renderRunbook(plan, times));
  say("");
  const result = await stack.preview({ diff: true, onOutput: engineOutputPrinter(), color: "never" });
  say(`preview: ${JSON.stringify(result.changeSummary)}`);
  return 0;
};
