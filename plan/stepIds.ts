/**
 * The runbook's step ids, built and parsed in one place: `preflight`, `db/expand`, `node-2/drain`,
 * `fleet/verify`, `rollback/node-2/drain`. The ids are resource names in the state, so the driver
 * reads resume and rollback decisions from them: every module builds and reads them here.
 * Pure (no Pulumi import): the policy pack uses it too.
 */

/** Every step that acts on one node, by the last segment of its id. */
export const NODE_STEP_KINDS = [
  "provision",
  // Optional (nodeCommands.prestageCommand): fetches the release while the node still serves.
  "prestage",
  "drain",
  "stop",
  "upgrade",
  "upgrade-check",
  "start",
  "admit",
  "bake",
  "version",
] as const;
export type NodeStepKind = (typeof NODE_STEP_KINDS)[number];

/**
 * One node's change of release in place, in order: out of rotation, stopped, changed, started (with
 * its health gate), back in rotation. Every upgrade wave runs these; the rollback runs exactly these
 * (so it does not pre-stage: `prestage` comes before the drain, outside the release change).
 */
export const RELEASE_CHANGE_KINDS = [
  "drain",
  "stop",
  "upgrade",
  "start",
  "admit",
] as const satisfies readonly NodeStepKind[];

/** The database steps, by the last segment of their id. */
export const DB_STEP_KINDS = [
  "backup",
  "allow-functions",
  "expand",
  "migrate",
  "verify",
  "contract",
  "restore-setting",
] as const;
export type DbStepKind = (typeof DB_STEP_KINDS)[number];

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

const isNodeKind = (kind: string): kind is NodeStepKind =>
  (NODE_STEP_KINDS as readonly string[]).includes(kind);
const isDbKind = (kind: string): kind is DbStepKind => (DB_STEP_KINDS as readonly string[]).includes(kind);

/** What a step id names, or undefined when it is no runbook step (a component, a malformed id). */
export function parseStepId(id: string): ParsedStepId | undefined {
  const parts = id.split("/");
  if (parts.some((part) => part === "")) return undefined;
  if (parts.length === 1)
    return id === PREFLIGHT_STEP ? { scope: "preflight", rollback: false, kind: "preflight" } : undefined;
  if (parts.length === 2) {
    const [scope, kind] = parts;
    if (scope === "db" && isDbKind(kind)) return { scope: "db", rollback: false, kind };
    if (id === FLEET_VERIFY_STEP) return { scope: "fleet", rollback: false, kind: "verify" };
    return isNodeKind(kind) ? { scope: "node", rollback: false, node: scope, kind } : undefined;
  }
  const [prefix, node, kind] = parts;
  if (parts.length === 3 && prefix === ROLLBACK && isNodeKind(kind))
    return { scope: "node", rollback: true, node, kind };
  return undefined;
}

/** The node step an id names (`node-2/drain`, `rollback/node-2/drain`), or undefined for any other. */
export function parseNodeStep(id: string): NodeStepId | undefined {
  const parsed = parseStepId(id);
  return parsed?.scope === "node" ? parsed : undefined;
}
