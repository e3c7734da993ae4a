/**
 * Which LoadBalancer a step acts through, by its request's `type` (the stack config's
 * `loadBalancer.type`). Adding a kind: its folder under steps/lb/ (its I/O), its pure module under
 * plan/lb/ (config schema, node keys, checks, runbook line, requests: plan/lb/kind.ts), and one line
 * in `builtInKinds` here and in plan/lb/registry.ts. Nothing else names a kind (eslint.config.mjs).
 */
import { StepError } from "../context";
import { albLoadBalancer } from "./alb/loadBalancer";
import { haproxyLoadBalancer } from "./haproxy/loadBalancer";
import type { LbKind, LoadBalancer } from "./loadBalancer";

const builtInKinds = {
  alb: albLoadBalancer,
  haproxy: haproxyLoadBalancer,
};

/** A built-in kind's LoadBalancer; steps/protocol.ts derives the request shapes from it. */
export type BuiltInLoadBalancer = (typeof builtInKinds)[keyof typeof builtInKinds];

/** Any kind, as the registry holds it: each is only ever handed targets of its own `type`. */
export type SomeLoadBalancer = LoadBalancer<LbKind, LbKind>;

const kinds = new Map<string, SomeLoadBalancer>(Object.entries(builtInKinds));

export function loadBalancerFor(lb: LbKind): SomeLoadBalancer {
  const kind = kinds.get(lb.type);
  if (kind === undefined) {
    throw new StepError(
      `no load balancer of type "${lb.type}" (known: ${[...kinds.keys()].join(", ")}); nothing was changed`,
    );
  }
  return kind;
}

/**
 * Adds a kind at run time (a test's stand-in); returns what removes it again. A kind the stack
 * config can name belongs in `builtInKinds`.
 */
export function registerLoadBalancer(type: string, kind: SomeLoadBalancer): () => void {
  if (kinds.has(type)) throw new Error(`a load balancer of type "${type}" is already registered`);
  kinds.set(type, kind);
  return () => kinds.delete(type);
}
