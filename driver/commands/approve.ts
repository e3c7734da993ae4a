import { CommandHandler } from "./context";
import { say } from "./output";

/** Approves the target release past a `pauseAfter` checkpoint. */
export const approve: CommandHandler = async ({ stack, config }) => {
  const { targetRelease } = await config();
  await stack.setConfig("glance-rolling-upgrade:approvedRelease", { value: targetRelease });
  say(`[driver] approved ${targetRelease} past the checkpoint: the next \`up\` continues the upgrade`);
  return 0;
};
