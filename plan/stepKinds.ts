/**
 * The step kinds, declared once. Each kind's name is the last segment of its step id (`node-2/drain`
 * is node kind `drain`, `db/verify` database kind `verify`, `fleet/verify` fleet kind `verify`), and
 * from this table come the ids (plan/stepIds.ts), the runbook's descriptions and the chain's order
 * (plan/plan.ts), the scripts a kind runs (steps/node/scripts.ts), the ordering the policy pack
 * checks (policy/rules.ts) and the results the summary shows (driver/summary.ts).
 *
 * Pure (no Pulumi import, types only from elsewhere): the policy pack and the provider's side may use it.
 *
 * A kind outside this table (a test's) is added with `registerNodeStepKind`, after declaring its name
 * in `StepKindExtensions`; it then runs in every node's release change right after the kind it names.
 */
import type { UpgradeConfig } from "./config";
import type { StepRequest } from "../steps/protocol";

/** Where a step acts: the whole run (preflight), the database, one node, or the fleet. */
export type StepScope = "preflight" | "db" | "node" | "fleet";

/**
 * How a step runs: a bash script on a node (either executor), a typed step (a request the steps
 * library dispatches, by its request kind), or a cloud resource the stack owns.
 */
export type StepRunner =
  | { by: "script"; /** Only reads: the command executor runs it again on an update. */ readOnly?: boolean }
  | { by: "typed"; requests: readonly StepRequest["kind"][] }
  | { by: "resource" };

/** What a description may read: the config, and whether the node is the NEW NODE. */
export interface DescribeContext {
  config: UpgradeConfig;
  newNode: boolean;
}

export interface StepKindSpec {
  runs: StepRunner;
  /** The runbook's line for a step of this kind. */
  describe(ctx: DescribeContext): string;
  /** The keys of its result the summary table shows, in that order. */
  shown?: readonly string[];
  /**
   * A node kind: part of the release change of every wave (drain .. admit), in declaration order;
   * the rollback runs exactly these.
   */
  releaseChange?: boolean;
  /**
   * A node kind: the same node's steps of these kinds must come first whenever the node has them.
   * The policy pack checks it (rule `declared-order`).
   */
  follows?: readonly string[];
  /**
   * A check a later build added to the chain: in a state where a step after it finished for the
   * target release without it (written by an earlier build), its place is passed, so the driver's
   * resume leaves it out instead of running it late (driver/resume.ts, `passedChecks`).
   */
  passedOnResume?: true;
}

const release = (ctx: DescribeContext): string => ctx.config.targetRelease;

/** Node steps, in the order a node runs them. */
const NODE_KINDS = {
  provision: {
    runs: { by: "resource" },
    describe: () => "launch the NEW NODE's EC2 instance (kept on delete)",
  },
  // Optional (nodeCommands.prestageCommand): fetches the release while the node still serves.
  prestage: {
    runs: { by: "script" },
    describe: (ctx) =>
      `prestageCommand: fetch release ${release(ctx)} while the node still serves; nothing installed`,
    shown: ["stdout"],
  },
  drain: {
    runs: { by: "typed", requests: ["drain"] },
    describe: () => "take out of rotation; wait for in-flight requests",
    shown: [
      "drainSeconds",
      "importSeconds",
      "importsWaitedFor",
      "importsLeftRunning",
      "stagedHere",
      "sessionsAtStart",
      "endedBy",
      "idleAtSeconds",
    ],
    releaseChange: true,
  },
  stop: {
    runs: { by: "script" },
    describe: (ctx) =>
      ctx.config.nodeCommands.serverMove
        ? "stop Glance gracefully, whichever server runs it, and verify both are down"
        : "stop Glance gracefully and verify it is down",
    shown: ["stdout"],
    releaseChange: true,
    follows: ["drain"],
  },
  upgrade: {
    runs: { by: "script" },
    describe: (ctx) =>
      ctx.newNode ? `install release ${release(ctx)}; do not start it` : `install release ${release(ctx)}`,
    shown: ["stdout"],
    releaseChange: true,
  },
  "upgrade-check": {
    runs: { by: "script", readOnly: true },
    describe: () => "glance-status upgrade check with the new code: a failure halts before any schema change",
    shown: ["stdout"],
    follows: ["upgrade"],
  },
  "config-check": {
    runs: { by: "script", readOnly: true },
    describe: (ctx) =>
      `every option of the glance-api config is one release ${release(ctx)} reads: a removed or misspelled one halts before any schema change`,
    shown: ["stdout"],
    follows: ["upgrade"],
    passedOnResume: true,
  },
  // The health gate is part of the start step: a failed gate leaves no start in the state, so a plain
  // `pulumi up` runs the start again together with its gate.
  start: {
    runs: { by: "script" },
    describe: (ctx) =>
      ctx.config.nodeCommands.serverMove
        ? "start Glance on the new release under its new server (serverMove); wait until its health check answers 200"
        : "start Glance on the new release; wait until its health check answers 200",
    shown: ["healthySeconds", "stdout"],
    releaseChange: true,
  },
  admit: {
    runs: { by: "typed", requests: ["admit"] },
    describe: () => "put back in rotation; wait until the load balancer sees it healthy",
    shown: ["admitSeconds"],
    releaseChange: true,
    follows: ["start"],
  },
  bake: {
    runs: { by: "typed", requests: ["bake"] },
    describe: (ctx) =>
      `watch it serve for ${ctx.config.bake.windowSeconds} s within the error budget before the next wave`,
    shown: ["bakeErrors"],
    follows: ["admit"],
  },
  version: {
    runs: { by: "script", readOnly: true },
    describe: () => "read the release the node runs, once every node is back in rotation",
    shown: ["stdout"],
  },
} as const satisfies Record<string, StepKindSpec>;

/** Database steps, in the order they run. */
const DB_KINDS = {
  backup: {
    runs: { by: "typed", requests: ["backup-mysqldump", "backup-rds"] },
    describe: ({ config }) =>
      config.backup.type === "mysqldump"
        ? `mysqldump the ${config.database.name} database to ${backupTarget(config)}`
        : `RDS snapshot of ${config.backup.dbInstanceIdentifier}`,
    shown: ["bytes", "sha256", "snapshotArn", "member"],
  },
  "allow-functions": {
    runs: { by: "typed", requests: ["allow-functions"] },
    describe: ({ config }) =>
      config.database.galeraMembers
        ? "set log_bin_trust_function_creators=1 on every Galera member where binary logging needs it (each member's previous value kept)"
        : "set log_bin_trust_function_creators=1 if binary logging needs it (previous value kept)",
    shown: ["previous", "changed"],
  },
  expand: {
    runs: { by: "script" },
    describe: ({ config }) => `glance-manage db expand (from ${config.newNodeName})`,
    shown: ["stdout"],
  },
  migrate: { runs: { by: "script" }, describe: () => "glance-manage db migrate", shown: ["stdout"] },
  verify: {
    runs: { by: "script", readOnly: true },
    describe: () => "glance-manage db check: no expand or data migration pending",
    shown: ["stdout"],
  },
  contract: { runs: { by: "script" }, describe: () => "glance-manage db contract", shown: ["stdout"] },
  "restore-setting": {
    runs: { by: "typed", requests: ["restore-setting"] },
    describe: ({ config }) =>
      config.database.galeraMembers
        ? "restore log_bin_trust_function_creators on every Galera member to its own previous value"
        : "restore log_bin_trust_function_creators to its previous value",
    shown: ["changed", "restoredTo"],
  },
} as const satisfies Record<string, StepKindSpec>;

const FLEET_KINDS = {
  verify: {
    runs: { by: "typed", requests: ["fleet-verify"] },
    describe: ({ config }) =>
      `every node reports ${config.targetVersion} and the load balancer holds only upgraded nodes` +
      (config.database.galeraMembers && config.database.adminUser
        ? "; log_bin_trust_function_creators re-checked on every Galera member before contract"
        : ""),
    shown: ["trustSetAgain"],
  },
} as const satisfies Record<string, StepKindSpec>;

const PREFLIGHT_KINDS = {
  preflight: {
    runs: { by: "typed", requests: ["preflight"] },
    describe: () =>
      "check config, database privileges, load balancer and every node before touching anything",
    shown: ["stuckImports"],
  },
} as const satisfies Record<string, StepKindSpec>;

/** The built-in kinds of each scope. */
export const STEP_KINDS = {
  preflight: PREFLIGHT_KINDS,
  db: DB_KINDS,
  node: NODE_KINDS,
  fleet: FLEET_KINDS,
} as const;

/**
 * Names of node step kinds added outside this module. A test adds its own with
 * `declare module ".../plan/stepKinds" { interface StepKindExtensions { smoke: true } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface StepKindExtensions {}
export type ExtensionKind = keyof StepKindExtensions & string;

export type BuiltInNodeKind = keyof typeof NODE_KINDS;
export type NodeStepKind = BuiltInNodeKind | ExtensionKind;
export type DbStepKind = keyof typeof DB_KINDS;
export type FleetStepKind = keyof typeof FLEET_KINDS;
/** Every kind's name (a name may be used in two scopes: `db/verify`, `fleet/verify`). */
export type StepKind = NodeStepKind | DbStepKind | FleetStepKind | "preflight";

type KindsRunning<T, By extends StepRunner["by"]> = {
  [K in keyof T]: T[K] extends { runs: { by: By } } ? K : never;
}[keyof T];

/** The kinds that run a bash script on a node (the database's run from the NEW NODE). */
export type NodeScriptKind =
  KindsRunning<typeof NODE_KINDS, "script"> | KindsRunning<typeof DB_KINDS, "script">;

/** The kind of any step that runs a script on a node: built-in, or added. */
export type ScriptKind = NodeScriptKind | ExtensionKind;

/** The built-in node kinds, in chain order. */
export const NODE_STEP_KINDS = Object.keys(NODE_KINDS) as BuiltInNodeKind[];
/** The database kinds, in chain order. */
export const DB_STEP_KINDS = Object.keys(DB_KINDS) as DbStepKind[];

/** A kind added outside this module: a node script, placed in the release change after `after`. */
export interface NodeStepExtension extends StepKindSpec {
  runs: { by: "script"; readOnly?: boolean };
  /** It runs in every node's release change (and so in the rollback's). */
  releaseChange: true;
  /** The release-change kind it follows directly in every node's chain. */
  after: BuiltInNodeKind;
  /** Its bash, after the common header (set -euo pipefail, GLANCE_NODE, GLANCE_RELEASE, ...). */
  commands(config: UpgradeConfig): string[];
}

const extensions = new Map<ExtensionKind, NodeStepExtension>();

/** Adds a node kind; returns what removes it again. */
export function registerNodeStepKind(kind: ExtensionKind, spec: NodeStepExtension): () => void {
  if (Object.hasOwn(NODE_KINDS, kind) || extensions.has(kind))
    throw new Error(`step kind ${kind} is already declared`);
  if (!(Object.hasOwn(NODE_KINDS, spec.after) && "releaseChange" in NODE_KINDS[spec.after]))
    throw new Error(`step kind ${kind} must follow a release-change kind, not ${spec.after}`);
  extensions.set(kind, spec);
  return () => void extensions.delete(kind);
}

/** An added kind's declaration, if `kind` is one. */
export function extensionOf(kind: string): NodeStepExtension | undefined {
  return extensions.get(kind as ExtensionKind);
}

/** Every node kind, built-in and added, in chain order (an added one right after the kind it follows). */
export function nodeStepKinds(): NodeStepKind[] {
  return NODE_STEP_KINDS.flatMap((kind): NodeStepKind[] => [
    kind,
    ...[...extensions].filter(([, spec]) => spec.after === kind).map(([added]) => added),
  ]);
}

/** One node's change of release in place, in order: drain .. admit, with any added kind in its place. */
export function releaseChangeKinds(): NodeStepKind[] {
  return nodeStepKinds().filter((kind) => "releaseChange" in kindSpec("node", kind));
}

export function isNodeStepKind(kind: string): kind is NodeStepKind {
  return Object.hasOwn(NODE_KINDS, kind) || extensions.has(kind as ExtensionKind);
}

export function isDbStepKind(kind: string): kind is DbStepKind {
  return Object.hasOwn(DB_KINDS, kind);
}

/** A kind's declaration. */
export function kindSpec(scope: "node", kind: NodeStepKind): StepKindSpec;
export function kindSpec(scope: StepScope, kind: string): StepKindSpec | undefined;
export function kindSpec(scope: StepScope, kind: string): StepKindSpec | undefined {
  if (scope === "node") {
    const added = extensions.get(kind as ExtensionKind);
    if (added) return added;
  }
  const table: Record<string, StepKindSpec> = STEP_KINDS[scope];
  return Object.hasOwn(table, kind) ? table[kind] : undefined;
}

/** A script kind's declaration (script kinds are unique across the node and database scopes). */
export function scriptKindSpec(kind: ScriptKind): StepKindSpec {
  const spec = kindSpec("node", kind) ?? kindSpec("db", kind);
  if (spec?.runs.by !== "script") throw new Error(`${kind} is no script step kind`);
  return spec;
}

/** Where a mysqldump backup goes (with {release} filled in), or the RDS instance snapshotted. */
export function backupTarget(config: UpgradeConfig): string {
  return config.backup.type === "mysqldump"
    ? config.backup.path.replaceAll("{release}", config.targetRelease)
    : `rds-snapshot:${config.backup.dbInstanceIdentifier}`;
}
