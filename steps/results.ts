/**
 * What each kind of step returns, declared once: the schema below gives the type the step writes
 * (steps/dispatch.ts returns it, checked with `satisfies`) and the reader that takes it back out of a
 * stack's state or a run's records (the summary, the live view). Pure: no Pulumi import; the
 * provider imports only the types, so zod is loaded where results are read, never where steps run.
 *
 * Keyed by the kind a step's resource and its timeline records carry today (`version` for
 * `node-2/version`, `verify-migrations` for `db/verify`, `fleet-verify` for `fleet/verify`).
 */
import { z } from "zod";
import { parseStepId } from "../plan/stepIds";
import { kindSpec } from "../plan/stepKinds";

/** What every node script returns (stop, upgrade, start, the schema steps, the version report, ...). */
const script = z.object({
  exitCode: z.number(),
  /** The script's last line of output (a version a node reports, what a prestage did). */
  stdout: z.string(),
  scriptSeconds: z.number(),
  /** A start step's health gate: how long the node took to answer 200. */
  healthySeconds: z.number().optional(),
});

/** The node versions before the upgrade, by node name. */
const versions = z.record(z.string(), z.string());

const preflight = z.object({
  dbServerVersion: z.string().optional(),
  binlogEnabled: z.boolean().optional(),
  trustFunctionCreators: z.boolean().optional(),
  /** log_bin_trust_function_creators before this release's chain changed anything (steps/db/trustRecord.ts). */
  trustFunctionCreatorsBefore: z.boolean().optional(),
  glanceHasSuper: z.boolean().optional(),
  /** Images stuck in 'importing' (a warning, not a problem). */
  stuckImports: z.array(z.string()).optional(),
  /** With database.galeraMembers: each member's state as the preflight read it (steps/db/galera.ts). */
  galeraMembersBefore: z.array(z.string()).optional(),
  /** With database.galeraMembers: each member's log_bin_trust_function_creators before this release's chain, by `host:port`. */
  trustBeforeByMember: z.record(z.string(), z.boolean()).optional(),
  /** The load balancer's own settings as the preflight read them (an ALB target group's), in one line. */
  loadBalancerSettings: z.string().optional(),
  /** What those settings let each node's drain and admit take, at most (steps/lb/alb/timing.ts). */
  expectedDrainSeconds: z.number().optional(),
  expectedAdmitSeconds: z.number().optional(),
  versionsBefore: versions,
});

const mysqldumpBackup = z.object({
  path: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  /** With database.galeraMembers: the member the dump was read from, and its state then. */
  member: z.string().optional(),
});
const rdsBackup = z.object({ snapshotArn: z.string(), snapshotIdentifier: z.string() });

const drain = z.object({
  drainSeconds: z.number(),
  /** The node was already out of rotation (a rerun of a drain that was cut short). */
  alreadyOut: z.boolean(),
  /** Sessions on the node when the drain began (a kind that counts them). */
  sessionsAtStart: z.number().optional(),
  inRotationAtStart: z.boolean().optional(),
  /**
   * ALB with idle detection: what ended the drain, `idle` (the node had no connection on its traffic
   * port after the propagation lag) or `unused` (the target left `draining`: the group's delay).
   */
  endedBy: z.enum(["idle", "unused"]).optional(),
  /** With endedBy idle: seconds from the drain's start to the first of the two idle readings. */
  idleAtSeconds: z.number().optional(),
  /** With image imports drained (loadBalancer.importDrainTimeoutSeconds > 0): what the drain waited for. */
  importsWaitedFor: z.array(z.string()).optional(),
  importSeconds: z.number().optional(),
  importsLeftRunning: z.array(z.string()).optional(),
  stagedHere: z.array(z.string()).optional(),
});

/** Each kind's result, by the kind its records carry. */
export const RESULT_SCHEMAS = {
  preflight,
  /** mysqldump: path, bytes, sha256; an RDS snapshot: its ARN and identifier. */
  backup: z.union([mysqldumpBackup, rdsBackup]),
  /** The NEW NODE's instance: a resource of the stack, with no step result. */
  provision: z.object({}),
  prestage: script,
  drain,
  stop: script,
  upgrade: script,
  "upgrade-check": script,
  "config-check": script,
  start: script,
  admit: z.object({ admitSeconds: z.number() }),
  bake: z.object({ bakeErrors: z.number(), bakeSeconds: z.number() }),
  version: script,
  "allow-functions": z.object({
    previous: z.boolean(),
    changed: z.boolean(),
    /** With database.galeraMembers: each member's value before and whether this step set it, by `host:port`. */
    members: z.record(z.string(), z.object({ previous: z.boolean(), changed: z.boolean() })).optional(),
  }),
  expand: script,
  migrate: script,
  "verify-migrations": script,
  contract: script,
  "restore-setting": z.object({
    restoredTo: z.boolean().nullable(),
    changed: z.boolean(),
    /** With database.galeraMembers: what each member was restored to, by `host:port`. */
    members: z.record(z.string(), z.object({ restoredTo: z.boolean(), changed: z.boolean() })).optional(),
    /** With database.galeraMembers: each member's state after the restore (steps/db/galera.ts). */
    galeraMembersAfter: z.array(z.string()).optional(),
  }),
  "fleet-verify": z.object({
    members: z.array(z.string()),
    /** With database.galeraMembers: members found at 0 (restarted) and set to 1 again before contract. */
    trustSetAgain: z.array(z.string()).optional(),
  }),
  /** Any other node script kind (one registered in plan/stepKinds.ts without a result of its own). */
  script,
};

/** A kind of step, as its records name it. */
export type ResultKind = keyof typeof RESULT_SCHEMAS;

/** What a step of kind K returns when it runs. */
export type StepResultByKind = { [K in ResultKind]: z.infer<(typeof RESULT_SCHEMAS)[K]> };

export type ScriptResult = z.infer<typeof script>;
export type PreflightResult = z.infer<typeof preflight>;
export type MysqldumpBackupResult = z.infer<typeof mysqldumpBackup>;
export type RdsBackupResult = z.infer<typeof rdsBackup>;
export type DrainResult = z.infer<typeof drain>;

/**
 * A result read back from a state or a record: typed field by field, and any field may be absent (a
 * state written by an older version of the program may not hold it).
 */
export type ReadResult<K extends ResultKind> = Partial<StepResultByKind[K]>;

/**
 * One step's result, under its kind: `result.drain?.drainSeconds`. Exactly one kind is set, or none
 * (a kind this program does not know, a result it cannot read).
 */
export type TypedResult = { [K in ResultKind]?: ReadResult<K> };

export function isResultKind(kind: string): kind is ResultKind {
  return Object.hasOwn(RESULT_SCHEMAS, kind);
}

/**
 * The kind a step id's records carry. The ids operators know (`db/verify`, `node-2/version`,
 * `fleet/verify`) name the kind in their last part, except where the resource's kind is spelled
 * differently (issue 31 makes them match).
 */
export function resultKindOfStepId(id: string): ResultKind | undefined {
  const parsed = parseStepId(id);
  if (parsed === undefined) return undefined;
  switch (parsed.scope) {
    case "fleet":
      return "fleet-verify";
    case "db":
      return parsed.kind === "verify" ? "verify-migrations" : parsed.kind;
    default:
      if (isResultKind(parsed.kind)) return parsed.kind;
      // A script kind registered outside this module (a test's own) returns a script's result.
      return kindSpec(parsed.scope, parsed.kind)?.runs.by === "script" ? "script" : undefined;
  }
}

/**
 * Results as older versions of the program wrote them: the preflight's versionsBefore was a JSON
 * string (a step result then held only flat values). Read, never written.
 */
function upgradeLegacy(kind: ResultKind, raw: Record<string, unknown>): Record<string, unknown> {
  if (kind === "preflight" && typeof raw.versionsBefore === "string") {
    try {
      return { ...raw, versionsBefore: JSON.parse(raw.versionsBefore) as unknown };
    } catch {
      const { versionsBefore: _unreadable, ...rest } = raw;
      return rest;
    }
  }
  return raw;
}

/**
 * A step's result as a state or a record holds it, read as its kind's type. A field that does not
 * read as its declared type is left out (the rest of the result stays); an unknown kind reads as none.
 */
export function readResult(kind: string, raw: unknown): TypedResult {
  return isResultKind(kind) && isObject(raw) ? { [kind]: readAs(kind, raw) } : {};
}

/** A stored result read as kind K's (a step that knows its own kind: `readAs("preflight", result)`). */
export function readAs<K extends ResultKind>(kind: K, raw: unknown): ReadResult<K> {
  return readFields(kind, isObject(raw) ? upgradeLegacy(kind, raw) : {});
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function readFields<K extends ResultKind>(kind: K, raw: Record<string, unknown>): ReadResult<K> {
  const schema: z.ZodType = RESULT_SCHEMAS[kind];
  const options = schema instanceof z.ZodUnion ? schema.options : [schema];
  const read: Record<string, unknown> = {};
  for (const option of options) {
    if (!(option instanceof z.ZodObject)) continue;
    for (const [field, fieldSchema] of Object.entries(option.shape as Record<string, z.ZodType>)) {
      const parsed = fieldSchema.safeParse(raw[field]);
      if (parsed.success && parsed.data !== undefined) read[field] = parsed.data;
    }
  }
  // Every field was checked against its own schema above: what is left is the kind's fields, each
  // of its declared type, any of them possibly absent.
  return read as ReadResult<K>;
}
