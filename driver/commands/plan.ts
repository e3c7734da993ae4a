import { renderRunbook } from "../../plan/plan";
import { CommandHandler, validatedPlan } from "./context";
import { say } from "./output";

/** Prints the runbook the stack's config gives; runs nothing. */
export const plan: CommandHandler = async ({ opened, config }) => {
  say(renderRunbook(await validatedPlan(opened, await config())));
  return 0;
};
