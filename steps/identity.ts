/**
 * When a finished step runs again. A step resource carries an `identity`: the upgrade it belongs to
 * (target release and version) and, for a node's steps, the node's unit (which machine, which load
 * balancer member, which executor). Every step of a node's unit carries the same unit, so an edit
 * that changes it runs the whole unit again, in order, and an edit that does not (a command, a
 * timeout, a threshold, a credential) runs nothing that has finished: it applies to the steps that
 * have not run yet, including a failed one. plan/identity.ts builds identities; this module only
 * compares them, inside the provider's `diff`, so a plain `pulumi preview` shows exactly what will run.
 */

/** The node a step belongs to, as far as "which machine is upgraded" goes. */
export interface NodeUnit {
  node: string;
  /** The address the node is reached at. */
  address: string;
  /** Its member in the load balancer: an HAProxy server name, an ALB target id. */
  member: string;
  transport: "ssh" | "local";
  /** The executor kind: switching it changes the node scripts' resource type, so the unit re-runs. */
  exec: "native" | "command";
}

export interface StepIdentity {
  /** The target release: a new one replays the whole chain. */
  release: string;
  /** The target version; absent on the backup, which is taken once per release. */
  version?: string;
  /** Set on every step of a node's unit (its prestage through its bake, and its version report). */
  unit?: NodeUnit;
}

/** What the provider compares: the identity, or for a state written before identities existed, its fields. */
export interface IdentifiedInputs {
  step?: string;
  kind?: string;
  node?: string | null;
  release?: string;
  identity?: StepIdentity | null;
}

/** JSON with object keys sorted, so that key order never counts as a change. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/**
 * Kind names earlier builds wrote into step resources, by step id, with the name the kind has now
 * (each kind is named after its id since plan/stepKinds.ts declares them). The plan called the
 * version reports `report-version`, but their resources always said `version`: no mapping needed.
 */
export const RENAMED_KINDS: Readonly<Record<string, { was: string; now: string }>> = {
  "db/verify": { was: "verify-migrations", now: "verify" },
  "fleet/verify": { was: "fleet-verify", now: "verify" },
};

/** A recorded kind under its current name: a step of `step` recorded with a kind since renamed. */
export function currentKindName(step: string | undefined, kind: string | undefined): string | undefined {
  const renamed = step === undefined ? undefined : RENAMED_KINDS[step];
  return renamed !== undefined && kind === renamed.was ? renamed.now : kind;
}

/**
 * True when the step recorded in `olds` is the step `news` asks for, so it does not run again.
 * A state written before step identities existed has none: there the step is the same when its
 * name, kind (under its current name: `RENAMED_KINDS`), node and release are, which is what a
 * finished step of the same upgrade has.
 */
export function sameStep(olds: IdentifiedInputs, news: IdentifiedInputs): boolean {
  if (olds.identity === undefined || olds.identity === null) {
    return (
      olds.step === news.step &&
      currentKindName(olds.step, olds.kind) === currentKindName(news.step, news.kind) &&
      (olds.node ?? null) === (news.node ?? null) &&
      olds.release === news.release
    );
  }
  return canonicalJson(olds.identity) === canonicalJson(news.identity ?? null);
}
