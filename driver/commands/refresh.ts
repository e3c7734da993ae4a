import { CommandHandler } from "./context";
import { engineOutputPrinter } from "./output";

export const refresh: CommandHandler = async ({ stack }) => {
  await stack.refresh({ onOutput: engineOutputPrinter(), color: "never" });
  return 0;
};
