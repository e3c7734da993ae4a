/**
 * The load-balancer kinds the stack config can name, by `loadBalancer.type`. The one place that
 * lists them: plan/, components/ and the policy ask this registry, never a kind's own module
 * (eslint.config.mjs). A new kind is its module beside this one, its folder under steps/lb/, and
 * one line here and in steps/lb/registry.ts.
 */
import { albKind } from "./alb";
import { haproxyKind } from "./haproxy";
import type { LbKindPlan } from "./kind";
import type { LbConfig } from "./rollout";

const builtInKinds: readonly LbKindPlan[] = [albKind, haproxyKind];

const kinds = new Map<string, LbKindPlan>(builtInKinds.map((kind) => [kind.type, kind]));
let generation = 0;

/** Every kind, built-in ones first, in the order they were registered. */
export function lbKinds(): readonly LbKindPlan[] {
  return [...kinds.values()];
}

/** The built-in kinds alone: what the stack schema a reader (or a generated test) walks is made of. */
export function builtInLbKinds(): readonly LbKindPlan[] {
  return builtInKinds;
}

/** Changes each time a kind is added or removed, so a schema built from the kinds can be cached. */
export function lbKindsGeneration(): number {
  return generation;
}

/** The kind of a parsed `loadBalancer` block (the parser only lets through a registered `type`). */
export function lbKindOf(lb: Pick<LbConfig, "type">): LbKindPlan {
  const kind = kinds.get(lb.type);
  if (kind === undefined) {
    throw new Error(`no load-balancer kind "${lb.type}" (known: ${[...kinds.keys()].join(", ")})`);
  }
  return kind;
}

/**
 * Adds a kind at run time (a test's stand-in); returns what removes it again. A kind the stack
 * config of a real site names belongs in `builtInKinds`.
 */
export function registerLbKind<Config extends LbConfig>(kind: LbKindPlan<Config>): () => void {
  if (kinds.has(kind.type)) throw new Error(`a load-balancer kind "${kind.type}" is already registered`);
  for (const field of Object.keys(kind.nodeFields)) {
    const owner = [...kinds.values()].find((other) => field in other.nodeFields);
    if (owner) throw new Error(`node key ${field} already belongs to load-balancer kind "${owner.type}"`);
  }
  kinds.set(kind.type, kind as unknown as LbKindPlan);
  generation++;
  return () => {
    if (kinds.get(kind.type) === (kind as unknown as LbKindPlan)) {
      kinds.delete(kind.type);
      generation++;
    }
  };
}
