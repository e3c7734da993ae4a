import { CommandHandler } from "./context";
import { engineOutputPrinter, say } from "./output";

/** Removes the stack's step records; the steps' delete changes nothing outside the state. */
export const destroy: CommandHandler = async ({ stack }) => {
  await stack.destroy({ onOutput: engineOutputPrinter(), color: "never" });
  say("destroy: the stack's step records are gone; no node, load balancer or database was changed by it");
  return 0;
};
