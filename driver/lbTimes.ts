/**
 * The expected drain and admit times the runbook shows before `preview` and `up`: the load
 * balancer's own settings read as the preflight reads them (steps/lbSettings.ts). Best effort: the
 * runbook says why when they cannot be read, and the preflight still judges them before anything runs.
 */
import type { UpgradeConfig } from "../plan/config";
import { lbKindOf } from "../plan/lb/registry";
import type { RunbookTimes } from "../plan/plan";
import { readLoadBalancerSettings } from "../steps/lbSettings";
import type { LbFleet } from "../steps/protocol";

/** How long the runbook waits for the reading before it prints without it. */
const READ_TIMEOUT_MS = 15_000;

export async function runbookTimes(config: UpgradeConfig): Promise<RunbookTimes | undefined> {
  const lb = config.loadBalancer;
  const fleet = lbKindOf(lb).fleet(lb, config, config.nodes, []) as LbFleet;
  let timer: NodeJS.Timeout | undefined;
  try {
    const reading = await Promise.race([
      readLoadBalancerSettings(
        fleet,
        {
          drainTimeoutSeconds: lb.drainTimeoutSeconds,
          healthTimeoutSeconds: lb.healthTimeoutSeconds,
          ...(lbKindOf(lb).drainIdle?.(lb) ?? {}),
        },
        { log: () => undefined },
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${READ_TIMEOUT_MS / 1000} s`)),
          READ_TIMEOUT_MS,
        );
      }),
    ]);
    return reading && { settings: reading.settings, drain: reading.drain, admit: reading.admit };
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    return { unread: `${why}; the preflight reads them again before anything changes` };
  } finally {
    clearTimeout(timer);
  }
}
