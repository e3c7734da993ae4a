/**
 * The one seam between the steps and a load balancer. Each kind (ALB, HAProxy, ...) implements
 * LoadBalancer for its own target and fleet shapes; steps/lb/registry.ts picks the implementation by
 * the request's `type`, so no step knows which kinds exist.
 */
import type { AwsTarget } from "../aws/clients";
import type { StepContext } from "../context";

/** What every kind's target and fleet carry: the stack config's `loadBalancer.type`. */
export interface LbKind {
  type: string;
}

/** The secrets a load balancer may need: the SSH key of a runtime API reached over SSH. */
export interface LbSecrets {
  sshPrivateKey?: string;
}

export interface DrainBounds {
  minHealthy: number;
  drainTimeoutSeconds: number;
  /** How a kind that cannot see in-flight requests (ALB) learns the node is idle; absent: it waits as it always did. */
  idle?: IdleProbe;
}

/** The node's own view of its work (issue 32): its connections on the traffic port that may carry work. */
export interface IdleProbe {
  /** How long the load balancer may still route new requests to a deregistered target. */
  propagationSeconds: number;
  /** Established connections on the node's traffic port now; throws when they cannot be read. */
  connections(): Promise<number>;
}

/**
 * What a drain reports. A kind that counts sessions also says what the drain waited for and
 * whether it took the node out of rotation (a rerun may find it half drained).
 */
export type Drained = {
  drainSeconds: number;
  alreadyOut: boolean;
  sessionsAtStart?: number;
  inRotationAtStart?: boolean;
  endedBy?: "idle" | "unused";
  idleAtSeconds?: number;
};

/** The stack's bounds a kind judges its own settings against (the preflight's `rollout`). */
export interface RolloutBounds {
  drainTimeoutSeconds: number;
  healthTimeoutSeconds: number;
  /** A drain that ends on the node's own connections: how long the load balancer may still route to it. */
  propagationSeconds?: number;
  /** `bake.windowSeconds` when the bake is on, for a kind whose bake watches what its settings time (ALB). */
  bakeWindowSeconds?: number;
}

/** One node's expected time for a drain or an admit under the load balancer's settings. */
export interface ExpectedStepTime {
  upToSeconds: number;
  /** Why, in words: "up to 27 s (2 passing checks x 5 s + ...)". */
  text: string;
}

/** What a kind's own settings (read by the preflight) say about each node's drain and admit. */
export interface LbSettingsReading {
  /** The settings read, in one line. */
  settings: string;
  /** Refusals: each names the values and the fix. */
  problems: string[];
  /** What the operator must know (what drainTimeoutSeconds must cover, ...). */
  notes: string[];
  drain: ExpectedStepTime;
  admit: ExpectedStepTime;
}

/** One look at a baking node. */
export interface BakeReading {
  /** Errors the node answered since the bake began, counted against the error budget. */
  errors: number;
  /** The counters behind `errors`, for messages; absent for a kind that counts none. */
  counters?: string;
  /** Why the node must come out whatever the budget (it turned unhealthy); absent while it is fine. */
  problem?: string;
}

/** A node watched through the bake window, its load balancer held open for the watch. */
export interface BakeWatch {
  /** What the node is held to, as the log says it after "baking <node> for <n> s". */
  terms(errorBudget: number, withAlarms: boolean): string;
  read(): Promise<BakeReading>;
  /** Takes the node out of rotation again; says where that left it. */
  takeOut(bounds: DrainBounds): Promise<string>;
}

/**
 * Every membership step, for one kind. Methods (not function properties) on purpose: their
 * parameters are bivariant, so a kind's LoadBalancer<ItsTarget, ItsFleet> can stand in the registry
 * beside the others, and the registry guarantees each only ever sees its own `type`.
 */
export interface LoadBalancer<Target extends LbKind, Fleet extends LbKind> {
  /** How messages name the node (its HAProxy server, its ALB target id, ...). */
  nodeLabel(target: Target): string;
  /** Where the bake reads its CloudWatch alarms: the load balancer's region, or the SDK's default. */
  alarmRegion(target: Target): AwsTarget;
  /**
   * The preflight's reading of the load balancer's own settings (an ALB target group's delay, health
   * checks, slow start and target type) against the stack's bounds; absent for a kind that has none
   * to read. Only reads.
   */
  readSettings?(
    fleet: Fleet,
    bounds: RolloutBounds,
    secrets: LbSecrets,
    ctx: StepContext,
  ): Promise<LbSettingsReading>;
  /** Checks the load balancer has exactly the expected members, all healthy; returns them. */
  checkFleet(fleet: Fleet, secrets: LbSecrets, ctx: StepContext): Promise<string[]>;
  /** Takes the node out of rotation once its in-flight requests end; refuses below minHealthy. */
  drain(target: Target, bounds: DrainBounds, secrets: LbSecrets, ctx: StepContext): Promise<Drained>;
  /** Puts the node back in rotation once its health checks pass; a node that fails stays out. */
  admit(
    target: Target,
    bounds: { healthTimeoutSeconds: number },
    secrets: LbSecrets,
    ctx: StepContext,
  ): Promise<{ admitSeconds: number }>;
  /** Holds the load balancer open while `bake` watches the node. */
  watch<T>(
    target: Target,
    secrets: LbSecrets,
    ctx: StepContext,
    bake: (watch: BakeWatch) => Promise<T>,
  ): Promise<T>;
}

/** The target shape of a LoadBalancer type (distributes over a union of kinds). */
export type TargetOf<Kind> = Kind extends LoadBalancer<infer Target, LbKind> ? Target : never;

/** The fleet shape of a LoadBalancer type (distributes over a union of kinds). */
export type FleetOf<Kind> = Kind extends LoadBalancer<LbKind, infer Fleet> ? Fleet : never;
