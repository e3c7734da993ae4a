/**
 * The capacity decision: may this node leave rotation, given where every target of the fleet is?
 * One pure function shared by every load balancer kind (each maps its own states onto
 * TargetState), asked twice per take-out: before, and again right after the node left, with a fresh
 * read of the fleet, so two drains of a wave that both passed the first look cannot both stay out
 * (steps/lb/takeOut.ts).
 */

/**
 * Where one target stands: `serving` (in rotation and healthy), `draining` (out of rotation, its
 * requests finishing), `down` (in rotation but failing its health checks), `maint` (out of rotation).
 */
export type TargetState = "serving" | "draining" | "down" | "maint";

export interface FleetMember {
  name: string;
  state: TargetState;
}

export type CapacityReason =
  /** Enough others serve without it. */
  | "EnoughServing"
  /** Fewer than minHealthy others would serve. */
  | "TooFewServing"
  /** The load balancer does not know it: nothing to decide about. */
  | "UnknownNode";

export interface CapacityDecision {
  mayLeave: boolean;
  reason: CapacityReason;
  /** The other targets that serve (in fleet order): what stays in rotation if the node leaves. */
  servingOthers: string[];
  minHealthy: number;
}

export function mayLeaveRotation(fleet: FleetMember[], node: string, minHealthy: number): CapacityDecision {
  const self = fleet.find((member) => member.name === node);
  const servingOthers = fleet.filter((m) => m.name !== node && m.state === "serving").map((m) => m.name);
  const decide = (mayLeave: boolean, reason: CapacityReason): CapacityDecision => ({
    mayLeave,
    reason,
    servingOthers,
    minHealthy,
  });
  if (self === undefined) return decide(false, "UnknownNode");
  // Only the others count, whatever the node's own state: asked again after the node left (it is
  // then draining), the answer must not change because it left. A node already down or draining
  // is held to the same rule: keeping it out needs the capacity its coming back would give.
  return decide(
    servingOthers.length >= minHealthy,
    servingOthers.length >= minHealthy ? "EnoughServing" : "TooFewServing",
  );
}
