import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { checkStepsBuild, StaleBuildError } from "../resources/stepsEntry";
import { ConfigError } from "../plan/config";
import { readStackConfig } from "../plan/config/read";
import { RollingUpgrade } from "./rollingUpgrade";
import { RollingRollback } from "./rollback";

function validatedStack(): ReturnType<typeof readStackConfig> {
  try {
    checkStepsBuild(path.join(__dirname, ".."));
    return readStackConfig();
  } catch (error) {
    // A config error is the operator's to fix: show the message, not a stack trace.
    if (error instanceof ConfigError || error instanceof StaleBuildError)
      throw new pulumi.RunError(error.message);
    throw error;
  }
}

/**
 * What the driver read from the state before this run: the checks whose place in the chain the
 * state has passed (driver/resume.ts, `passedChecks`). Plain `pulumi up` reads no state: it runs them.
 */
let passedChecks: readonly string[] = [];

/** Sets the checks the next run of the program leaves out (the driver, before `up` or `preview`). */
export function passChecks(ids: readonly string[]): void {
  passedChecks = ids;
}

/** The program both `index.ts` (plain `pulumi up`) and the driver's inline run execute. */
export function upgradeProgram(): Record<string, unknown> {
  const stack = validatedStack();
  const upgrade = new RollingUpgrade("glance-upgrade", { ...stack, passed: passedChecks });
  return {
    targetRelease: stack.config.targetRelease,
    plan: upgrade.plan,
    runbook: upgrade.runbook,
    summary: upgrade.summary,
  };
}

/** The driver's rollback: the given upgraded nodes back to `rollbackTo`, one at a time. */
export function rollbackProgram(nodes: string[]): Record<string, unknown> {
  const stack = validatedStack();
  const rollback = new RollingRollback("glance-rollback", { ...stack, nodes });
  return { rolledBack: nodes, release: stack.config.rollbackTo?.release, steps: rollback.steps };
}
