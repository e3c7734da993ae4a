/**
 * The runbook's step ids, built and parsed in one place: `preflight`, `db/expand`, `node-2/drain`,
 * `fleet/verify`, `rollback/node-2/drain`. The ids are resource names in the state, so the driver
 * reads resume and rollback decisions from them: every module builds and reads them here. A step's
 * kind is the last segment of its id (plan/stepKinds.ts declares the kinds).
 * Pure (no Pulumi import): the policy pack uses it too.
 */
import {
  DbStepKind,
  isDbStepKind,
  isNodeStepKind,
  NodeStepKind,
  releaseChangeKinds,
  type StepScope,
} from "./stepKinds";

export {
  DB_STEP_KINDS,
  NODE_STEP_KINDS,
  type DbStepKind,
  type NodeStepKind,
  type StepKind,
  type StepScope,
} from "./stepKinds";

/**
 * One node's change of release in place, in order: out of rotation, stopped, changed, started (with
 * its health gate), back in rotation. Every upgrade wave runs these; the rollback runs exactly these
 * (so it does not pre-stage: `prestage` comes before the drain, outside the release change).
 * The built-in ones; `releaseChangeKinds()` adds any kind registered into the release change.
 */
export const RELEASE_CHANGE_KINDS = releaseChangeKinds() as readonly NodeStepKind[];

export const PREFLIGHT_STEP = "preflight";
export const FLEET_VERIFY_STEP = "fleet/verify";

const ROLLBACK = "rollback";

export interface NodeStepId {
  scope: "node";
  rollback: boolean;
  node: string;
  kind: NodeStepKind;
}

export type ParsedStepId =
  | NodeStepId
  | { scope: "db"; rollback: false; kind: DbStepKind }
  | { scope: "fleet"; rollback: false; kind: "verify" }
  | { scope: "preflight"; rollback: false; kind: "preflight" };

/** The prefix of one node's step ids (and its component's name): `node-2`, or `rollback/node-2`. */
export function nodeScope(node: string, rollback = false): string {
  return rollback ? `${ROLLBACK}/${node}` : node;
}

/** `nodeStep("node-2", "drain")` is `node-2/drain`; with `rollback`, `rollback/node-2/drain`. */
export function nodeStep(node: string, kind: NodeStepKind, rollback = false): string {
  return `${nodeScope(node, rollback)}/${kind}`;
}

/** `dbStep("contract")` is `db/contract`. */
export function dbStep(kind: DbStepKind): string {
  return `db/${kind}`;
}

/** The id of a step that acts on no node: `preflight`, `db/expand`, `fleet/verify`. */
export function fleetWideStep(scope: Exclude<StepScope, "node">, kind: string): string {
  return scope === "preflight" ? PREFLIGHT_STEP : `${scope}/${kind}`;
}

/** What a step id names, or undefined when it is no runbook step (a component, a malformed id). */
export function parseStepId(id: string): ParsedStepId | undefined {
  const parts = id.split("/");
  if (parts.some((part) => part === "")) return undefined;
  if (parts.length === 1)
    return id === PREFLIGHT_STEP ? { scope: "preflight", rollback: false, kind: "preflight" } : undefined;
  if (parts.length === 2) {
    const [scope, kind] = parts;
    if (scope === "db" && isDbStepKind(kind)) return { scope: "db", rollback: false, kind };
    if (id === FLEET_VERIFY_STEP) return { scope: "fleet", rollback: false, kind: "verify" };
    return isNodeStepKind(kind) ? { scope: "node", rollback: false, node: scope, kind } : undefined;
  }
  const [prefix, node, kind] = parts;
  if (parts.length === 3 && prefix === ROLLBACK && isNodeStepKind(kind))
    return { scope: "node", rollback: true, node, kind };
  return undefined;
}

/** The node step an id names (`node-2/drain`, `rollback/node-2/drain`), or undefined for any other. */
export function parseNodeStep(id: string): NodeStepId | undefined {
  const parsed = parseStepId(id);
  return parsed?.scope === "node" ? parsed : undefined;
}
