import { existsSync, statSync } from "node:fs";
import { writeRunReport } from "../report/records";
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
import { say } from "./output";

/**
 * The handler, then the report page of the upgrade its run belongs to, written into the run's
 * records, whatever the outcome, when the run ran a step.
 */
export function withReportPage(handler: CommandHandler): CommandHandler {
  return async (context) => {
    try {
      return await handler(context);
    } finally {
      const { timeline, dir } = context.files;
      if (existsSync(timeline) && statSync(timeline).size > 0) {
        const page = writeRunReport(context.options.stack, dir);
        if (page) say(`[driver] report page: ${page}`);
      }
    }
  };
}

/** Every driver command's handler, by name. */
export const COMMANDS: Record<CommandName, CommandHandler> = {
  plan,
  preview,
  up: withReportPage(up),
  refresh,
  destroy,
  report,
  recover,
  rollback: withReportPage(rollback),
  approve,
};
