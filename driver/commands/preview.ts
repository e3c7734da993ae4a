import { renderRunbook } from "../../plan/plan";
import { CommandHandler, validatedPlan } from "./context";
import { engineOutputPrinter, say } from "./output";

/** The runbook, then the engine's preview of it. */
export const preview: CommandHandler = async ({ opened, stack, config }) => {
  say(renderRunbook(await validatedPlan(opened, await config())));
  say("");
  const result = await stack.preview({ diff: true, onOutput: engineOutputPrinter(), color: "never" });
  say(`preview: ${JSON.stringify(result.changeSummary)}`);
  return 0;
};
