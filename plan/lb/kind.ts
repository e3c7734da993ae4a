/**
 * What a load-balancer kind tells the plan and the components: everything they need so that none of
 * them knows which kinds exist (the steps' half is steps/lb/loadBalancer.ts). Each kind is one module
 * under plan/lb/ (pure: its config schema, node fields, checks, runbook line and step requests) and
 * one folder under steps/lb/ (its I/O); plan/lb/registry.ts holds the kinds the stack config can name.
 */
import type { z } from "zod";
import type { LbKind } from "../../steps/lb/loadBalancer";
import type { ParsedStack } from "../config/schema";
import type { ResolvedNode, SecretKey, UpgradeConfig } from "../config/upgradeConfig";
import type { LbConfig } from "./rollout";

/** A node key that one kind owns (`haproxyServer`, `instanceId`): its schema, and what it names. */
export interface NodeField {
  schema: z.ZodType;
  /** What the field names, in the plural, for a kind that has none: "HAProxy servers". */
  names: string;
}

/**
 * One kind, its config typed as its own schema gives it. Methods (not function properties) on
 * purpose: their parameters are bivariant, so every kind stands in the registry beside the others,
 * and the registry hands each only a `loadBalancer` block of its own `type`.
 */
export interface LbKindPlan<Config extends LbConfig = LbConfig> {
  /** `loadBalancer.type`. */
  readonly type: string;
  /** The whole `loadBalancer` block: a strict object with `type` as this literal and the rollout's fields. */
  readonly schema: z.ZodType<Config>;
  /** Keys this kind adds to each node (all optional). */
  readonly nodeFields: Readonly<Record<string, NodeField>>;
  /**
   * Why a node key of another kind would be ignored, after "loadBalancer.type is <type>, ": e.g.
   * "which knows the node by its server name (...), so it would be ignored: remove it".
   */
  ignoredNodeField(names: string): string;
  /** A node's own fields with this kind's defaults filled in (a ResolvedNode carries them). */
  resolveNodeFields(node: ResolvedNode, given: Record<string, unknown>): Record<string, unknown>;
  /** What must be unique per node ("HAProxy server s1"), beside its name, address and health URL. */
  nodeIdentities(node: ResolvedNode): string[];
  /** The node as its load balancer knows it (its server, target id): part of its unit's identity. */
  member(lb: Config, node: ResolvedNode): string;
  /** Every config problem that concerns this kind, in the operator's words (plan/config/problemText.ts). */
  problems(lb: Config, stack: ParsedStack, nodes: ResolvedNode[]): string[];
  /**
   * The `acknowledge` keys this kind adds (each a risk of its own an operator may accept by name),
   * with what each accepts.
   */
  readonly acknowledgements: Readonly<Record<string, string>>;
  /**
   * Risky settings of this kind, by the `acknowledge` key that accepts them: one of its own, or a
   * shared one (`awsEndpointOverHttp`).
   */
  risks(lb: Config, stack: ParsedStack): Readonly<Record<string, string[]>>;
  /** A schema issue inside `loadBalancer` said more precisely (e.g. which form of an entry was meant). */
  refineIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue;
  /** The runbook's `load balancer:` line. */
  describe(lb: Config, config: UpgradeConfig): string;
  /** One node's membership as the kind's steps take it (key order is part of the step's identity). */
  target(lb: Config, config: UpgradeConfig, node: ResolvedNode, targetId?: string): LbKind;
  /** The expected membership: exactly these nodes, plus the target ids of provisioned ones. */
  fleet(lb: Config, config: UpgradeConfig, nodes: ResolvedNode[], extraTargetIds: string[]): LbKind;
  /** The stack secrets its steps need. */
  secrets(lb: Config, config: UpgradeConfig): SecretKey[];
  /** Where the bake's CloudWatch alarms are read: this load balancer's AWS region and endpoint, or {}. */
  alarmsAt(lb: Config): { region?: string; endpoint?: string };
  /**
   * How a NEW NODE the stack launches joins it (an ALB target group attachment); undefined for a kind
   * that cannot take one, which parse refuses.
   */
  provisionedJoin(lb: Config): { targetGroupArn: string; port: number } | undefined;
  /**
   * A kind that cannot see a node's in-flight requests (ALB) ends a drain when the node itself finds
   * no connection on its traffic port, once the load balancer can no longer route to it
   * (steps/lb/alb/drainEnd.ts): how long that may take. Absent: the kind's drain sees the work itself.
   */
  drainIdle?(lb: Config): { propagationSeconds: number };
  /**
   * A kind whose bake watches what its own settings time (an ALB target's health, reported after the
   * target group's failed checks): the bake window, for the preflight to judge against them. Absent,
   * or {} with the bake off: the preflight's request does not carry it.
   */
  bakeBound?(lb: Config, config: UpgradeConfig): { bakeWindowSeconds?: number };
}
