/**
 * The load balancer's own settings against the stack's bounds (an ALB target group's delay, health
 * checks, slow start and target type), read through its kind: the preflight refuses on the reading's
 * problems, and the driver's preview and up print its expected drain and admit times in the runbook.
 */
import { loadBalancerFor } from "./lb/registry";
import type { LbSettingsReading, RolloutBounds } from "./lb/loadBalancer";
import type { StepContext } from "./context";
import type { LbFleet, StepSecrets } from "./protocol";

/** The reading, or undefined for a kind that has no settings of its own to read. Only reads. */
export async function readLoadBalancerSettings(
  lb: LbFleet,
  rollout: RolloutBounds,
  ctx: StepContext,
  secrets: StepSecrets = {},
): Promise<LbSettingsReading | undefined> {
  const kind = loadBalancerFor(lb);
  return kind.readSettings ? kind.readSettings(lb, rollout, secrets, ctx) : undefined;
}
