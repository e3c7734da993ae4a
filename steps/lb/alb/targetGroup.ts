/**
 * Reading an ALB target group: where a target stands (absent, draining, registered) and its health,
 * and every AWS call's failure in words that say where the target was last seen.
 */
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  TargetDescription,
  TargetHealthDescription,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { StepError } from "../../context";
import { AwsTarget, awsErrorName, describeAwsError, elbv2Client } from "../../aws/clients";

export interface AlbTargetRef extends AwsTarget {
  targetGroupArn: string;
  /** Instance id (`i-…`), IP address or Lambda ARN, as registered in the target group. */
  targetId: string;
  /** Absent: the target group's port. */
  port?: number;
}

export type Presence = "absent" | "draining" | "registered";

export interface TargetView {
  presence: Presence;
  /** e.g. "healthy", or "unused (Target.InvalidState: Target is in the stopped state)". */
  health: string;
  healthy: boolean;
}

export function targetLabel(ref: AlbTargetRef): string {
  return ref.port === undefined ? ref.targetId : `${ref.targetId}:${ref.port}`;
}

export function targetOf(ref: AlbTargetRef): TargetDescription {
  return ref.port === undefined ? { Id: ref.targetId } : { Id: ref.targetId, Port: ref.port };
}

export function sameTarget(d: TargetHealthDescription, ref: AlbTargetRef): boolean {
  return d.Target?.Id === ref.targetId && (ref.port === undefined || d.Target?.Port === ref.port);
}

export function healthText(d: TargetHealthDescription | undefined): string {
  const h = d?.TargetHealth;
  if (h?.State === undefined) return "unknown";
  const why = [h.Reason, h.Description].filter(Boolean).join(": ");
  return why ? `${h.State} (${why})` : h.State;
}

export function viewOf(d: TargetHealthDescription | undefined): TargetView {
  const state = d?.TargetHealth?.State;
  const presence: Presence =
    d === undefined || d.TargetHealth?.Reason === "Target.NotRegistered"
      ? "absent"
      : state === "draining" || state === "unhealthy.draining"
        ? "draining"
        : "registered";
  return { presence, health: healthText(d), healthy: state === "healthy" };
}

export function assertPositive(name: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min) {
    throw new StepError(`${name} must be a number >= ${min}, got ${value}: fix the config`);
  }
}

/**
 * Runs one AWS call; an SDK failure becomes a StepError that names the call and where the target
 * was last seen, so the operator never has to guess whether it serves traffic.
 */
export async function awsCall<T>(
  what: string,
  targetGroupArn: string,
  lastSeen: string,
  leftChanged: string | undefined,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StepError) throw error;
    if (awsErrorName(error) === "TargetGroupNotFoundException") {
      throw new StepError(
        `${what}: target group ${targetGroupArn} does not exist. ${lastSeen}. ` +
          `Check targetGroupArn and the region in the stack config.`,
        leftChanged,
      );
    }
    throw new StepError(
      `${what} failed: ${describeAwsError(error)}. ${lastSeen}. ` +
        `Check AWS credentials, region and endpoint, then rerun (the step is safe to rerun).`,
      leftChanged,
    );
  }
}

export async function describeGroup(client: ElasticLoadBalancingV2Client, targetGroupArn: string) {
  const out = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return out.TargetHealthDescriptions ?? [];
}

export async function describeTarget(
  client: ElasticLoadBalancingV2Client,
  ref: AlbTargetRef,
): Promise<TargetView> {
  try {
    const out = await client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: ref.targetGroupArn, Targets: [targetOf(ref)] }),
    );
    return viewOf(out.TargetHealthDescriptions?.find((d) => sameTarget(d, ref)));
  } catch (error) {
    // AWS answers InvalidTarget for an id it does not know at all: as absent as it gets.
    if (awsErrorName(error) === "InvalidTargetException") return viewOf(undefined);
    throw error;
  }
}

/** The last state for an error message; the API may be the very thing that failed. */
export async function lastHealth(client: ElasticLoadBalancingV2Client, ref: AlbTargetRef): Promise<string> {
  try {
    return `last health: ${(await describeTarget(client, ref)).health}`;
  } catch (error) {
    return `its health could not be read: ${describeAwsError(error)}`;
  }
}

export function elapsedSeconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 100) / 10;
}
/** The target's current health as the target group reports it (for the bake watch). */
export async function albTargetHealth(ref: AlbTargetRef): Promise<{ healthy: boolean; health: string }> {
  const view = await describeTarget(elbv2Client(ref), ref);
  return { healthy: view.healthy, health: view.health };
}
