import { approve } from "./approve";
import { CommandHandler, CommandName } from "./context";
import { destroy } from "./destroy";
import { plan } from "./plan";
import { preview } from "./preview";
import { recover } from "./recover";
import { refresh } from "./refresh";
import { report } from "./report";
import { rollback } from "./rollback";
import { up } from "./up";

/** Every driver command's handler, by name. */
export const COMMANDS: Record<CommandName, CommandHandler> = {
  plan,
  preview,
  up,
  refresh,
  destroy,
  report,
  recover,
  rollback,
  approve,
};
