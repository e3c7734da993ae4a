import { renderRunbook } from "../../plan/plan";
import { runbookTimes } from "../lbTimes";
import { passChecks } from "../../components/program";
import { passedChecks } from "../resume";
import { CommandHandler, validatedPlan } from "./context";
import { engineOutputPrinter, say } from "./output";
import { passedWords } from "./up";

/** The runbook, then the engine's preview of it (without the checks a resume leaves out, as `up`). */
export const preview: CommandHandler = async ({ opened, stack, config, initialState }) => {
  const stackConfig = await config();
  const [plan, times] = await Promise.all([validatedPlan(opened, stackConfig), runbookTimes(stackConfig)]);
  say(renderRunbook(plan, times));
  const passed = passedChecks(await initialState(), plan);
  if (passed.length > 0) say(`[driver] ${passedWords(passed, plan.targetRelease)}`);
  passChecks(passed);
  say("");
  const result = await stack.preview({ diff: true, onOutput: engineOutputPrinter(), color: "never" });
  say(`preview: ${JSON.stringify(result.changeSummary)}`);
  return 0;
};
