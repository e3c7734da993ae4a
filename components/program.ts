import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config";
import { readStackConfig } from "./config/read";
import { RollingUpgrade } from "./rollingUpgrade";

/** The program both `index.ts` (plain `pulumi up`) and the driver's inline run execute. */
export function upgradeProgram(): Record<string, unknown> {
  let stack: ReturnType<typeof readStackConfig>;
  try {
    stack = readStackConfig();
  } catch (error) {
    // A config error is the operator's to fix: show the message, not a stack trace.
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
  const upgrade = new RollingUpgrade("glance-upgrade", stack);
  return {
    targetRelease: stack.config.targetRelease,
    plan: upgrade.plan,
    runbook: upgrade.runbook,
    summary: upgrade.summary,
  };
}
