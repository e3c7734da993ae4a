import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, SECRET_KEYS, SecretPresence } from "../../plan/config";
import { DB_STEP_KINDS, dbStep, nodeScope, parseNodeStep, PREFLIGHT_STEP } from "../../plan/stepIds";
import { provisionedStackConfig, stackConfig } from "./support/mockProgram";
import { Operation, operations, registered, Registered, runs, stoppedAfter } from "./support/rerunModel";
import {
  candidates,
  COMPANION_EDITS,
  differs,
  EXAMPLE_VALUES,
  plainPath,
  rawPath,
  readAt,
  SchemaLeaf,
  schemaLeaves,
  writeAt,
} from "./support/schemaEdits";

/**
 * Issue 30, item 2: every key of the schema, and every structural edit an operator makes, at every
 * stopping point of a run, checked on what the rerun would run. The old and new configs go through
 * the real program (mocks) and each step through its real diff (test/unit/support/rerunModel.ts):
 * - I8, the unit rule: a node's unit runs none of its finished steps, or all of them in order (a
 *   resume runs only the steps that had not finished);
 * - I8: the backup is never retaken within a release; preflight, the schema steps and the MySQL
 *   setting never run again after they finished (a resume never fails on its own progress);
 * - a new target release or version replays the whole chain (the backup: a new release only).
 * The unit rule with the plan's dependsOn gives I1-I6 on what runs (test/unit/invariants.test.ts
 * proves them on every plan's graph): a stop that runs follows its drain in the same run, or a drain
 * that finished earlier and left the node out of rotation.
 */

type Raw = Record<string, unknown>;
const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const PRESENCE = Object.fromEntries(SECRET_KEYS.map((k) => [k, { present: true, isSecret: true }])) as Record<
  (typeof SECRET_KEYS)[number],
  SecretPresence
>;

const RDS = {
  database: {
    host: "glance.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    user: "glance",
    adminUser: "admin",
    tls: true,
  },
  backup: { type: "rds-snapshot", dbInstanceIdentifier: "glance", region: "eu-west-1" },
};
const provisioned = provisionedStackConfig(2);
const provision = (provisioned.newNode as { provision: Raw }).provision;
const HAPROXY = { type: "haproxy", backend: "glance_api" };

/** The configs edits start from: each key is edited on the first base where the edit is valid. */
const BASES: Array<{ title: string; config: Raw }> = [
  { title: "3 nodes, HAProxy, mysqldump", config: stackConfig(3) },
  {
    title: "3 nodes with prestage, bake, an approved checkpoint and a rollback target",
    config: stackConfig(3, {
      nodeCommands: { prestageCommand: "apt-get install --download-only -y glance-api" },
      bake: { windowSeconds: 30, errorBudget: 0, alarmNames: ["glance-5xx"] },
      pauseAfter: 1,
      approvedRelease: "2024.1",
      rollbackTo: { release: "2023.2", version: "27.1.1" },
    }),
  },
  { title: "3 nodes, ALB, RDS", config: stackConfig(3, RDS, "alb") },
  { title: "a provisioned NEW NODE", config: provisioned },
  {
    title: "a NEW NODE launched from a template",
    config: {
      ...provisioned,
      newNode: { provision: { ...provision, ami: undefined, launchTemplateId: "lt-0123456789abcdef0" } },
    },
  },
  {
    title: "an RDS snapshot of a database named by a proxy",
    config: stackConfig(3, {
      backup: RDS.backup,
      database: { host: "db.internal", user: "glance", adminUser: "admin", tls: true },
    }),
  },
  {
    title: "two HAProxy runtime APIs",
    config: stackConfig(3, {
      loadBalancer: { ...HAPROXY, runtimeApi: ["unix:/run/haproxy/a.sock", "unix:/run/haproxy/b.sock"] },
    }),
  },
  {
    title: "an HAProxy runtime API over SSH",
    config: stackConfig(3, {
      loadBalancer: {
        ...HAPROXY,
        runtimeApi: [{ ssh: { host: "10.0.1.10", user: "haproxy" }, socket: "/run/haproxy/admin.sock" }],
      },
    }),
  },
  { title: "exec: command", config: stackConfig(3, { exec: "command" }) },
];

function parses(raw: Raw): unknown {
  try {
    return parseStackConfig(raw, PRESENCE);
  } catch (error) {
    if (error instanceof ConfigError) {
      if (process.env.GRU_DEBUG_EDITS) console.log(error.message);
      return undefined;
    }
    throw error;
  }
}

interface EditCase {
  title: string;
  before: Raw;
  after: Raw;
  /** targetRelease or targetVersion (rollbackTo's, for a rollback): the chain replays. */
  generation?: "release" | "version";
  /** The rollback program's nodes, for an edit during a rollback. */
  rollbackNodes?: string[];
}

/** Whether a base has the union variants a leaf sits in (`loadBalancer|alb`: an ALB). */
function hasVariants(config: Raw, leaf: SchemaLeaf): boolean {
  const keys: string[] = [];
  for (const segment of leaf.segments) {
    if ("key" in segment) keys.push(segment.key);
    else if ("variant" in segment && ["loadBalancer", "backup"].includes(keys.join(".")))
      if ((readAt(config, keys) as Raw | undefined)?.type !== segment.variant) return false;
  }
  return true;
}

/** The first valid edit of a leaf, on the first base that takes it; `index` picks the node. */
function editOf(
  leaf: SchemaLeaf,
  index: number,
  bases = BASES,
  generations: Record<string, "release" | "version"> = { targetRelease: "release", targetVersion: "version" },
): EditCase | undefined {
  for (const base of bases.filter((b) => hasVariants(b.config, leaf))) {
    const where = rawPath(leaf, index);
    const parsedBefore = parses(base.config);
    // A key the base leaves out is edited from its default.
    const current = readAt(base.config, where) ?? readAt(parsedBefore, where);
    const companions = COMPANION_EDITS[plainPath(leaf)] ?? [];
    for (const value of candidates(leaf, current)) {
      const after = companions.reduce(
        (config, companion) => writeAt(config, companion.path, companion.value),
        writeAt(base.config, where, value),
      );
      const parsedAfter = parses(after);
      if (parsedAfter !== undefined && differs(parsedBefore, parsedAfter)) {
        const generation = generations[leaf.path];
        return {
          title: `${leaf.path}${leaf.segments.some((s) => "each" in s) ? ` (${String(where[1])})` : ""} on ${base.title}`,
          before: base.config,
          after,
          ...(generation ? { generation } : {}),
        };
      }
    }
  }
  return undefined;
}

const leaves = schemaLeaves();
/** The union discriminators (`loadBalancer.type`, `backup.type`): switched whole, as structural edits. */
const discriminators = leaves.filter((l) => l.type === "literal" && plainPath(l).endsWith(".type"));
const keyEdits: EditCase[] = [];
const uneditable: string[] = [];
for (const leaf of leaves.filter((l) => !discriminators.includes(l))) {
  const indexes = leaf.path.startsWith("nodes[]") ? [0, 1] : [0];
  for (const index of indexes) {
    const edit = editOf(leaf, index);
    if (edit) keyEdits.push(edit);
    else uneditable.push(leaf.path);
  }
}

const base = stackConfig(3);
const nodesOf = (config: Raw) => config.nodes as Array<Record<string, unknown>>;
const structuralEdits: EditCase[] = [
  {
    title: "a node added",
    before: base,
    after: stackConfig(4),
  },
  { title: "a node removed", before: stackConfig(4), after: base },
  {
    title: "nodes reordered",
    before: base,
    after: { ...base, nodes: [nodesOf(base)[0], nodesOf(base)[2], nodesOf(base)[1]] },
  },
  { title: "newNode node-1 -> node-2", before: base, after: { ...base, newNode: { existing: "node-2" } } },
  { title: "exec native -> command", before: base, after: { ...base, exec: "command" } },
  { title: "exec command -> native", before: { ...base, exec: "command" }, after: base },
  {
    title: "loadBalancer haproxy -> alb",
    before: { ...base, loadBalancer: { ...HAPROXY, runtimeApi: "unix:/run/haproxy/admin.sock" } },
    after: stackConfig(3, {}, "alb"),
  },
  {
    title: "backup mysqldump -> rds-snapshot (with TLS, as RDS asks)",
    before: base,
    after: { ...base, backup: RDS.backup, database: { ...(base.database as Raw), tls: true } },
  },
  {
    title: "newNode existing -> provisioned",
    before: stackConfig(2, { ssh: (provisionedStackConfig(2) as Raw).ssh }, "alb"),
    after: provisionedStackConfig(2),
  },
  { title: "prestage off", before: BASES[1].config, after: { ...BASES[1].config, nodeCommands: {} } },
  {
    title: "bake off",
    before: BASES[1].config,
    after: { ...BASES[1].config, bake: { windowSeconds: 0, errorBudget: 0, alarmNames: [] } },
  },
  {
    title: "pauseAfter off",
    before: BASES[1].config,
    after: { ...BASES[1].config, pauseAfter: undefined, approvedRelease: undefined },
  },
  {
    title: "a checkpoint approved",
    before: { ...BASES[1].config, approvedRelease: undefined },
    after: BASES[1].config,
  },
  {
    title: "maxUnavailable 1 -> 2 on 5 nodes",
    before: stackConfig(5),
    after: stackConfig(5, {
      loadBalancer: { ...HAPROXY, runtimeApi: "unix:/run/haproxy/admin.sock", maxUnavailable: 2 },
    }),
  },
];

/** The steps of a node's unit that change something (a read-only step may run again harmlessly). */
const CHANGING = new Set([
  "provision",
  "attach",
  "prestage",
  "drain",
  "stop",
  "upgrade",
  "start",
  "admit",
  "bake",
]);
/** Preflight and every database step: once per upgrade. */
const NEVER_AGAIN = [PREFLIGHT_STEP, ...DB_STEP_KINDS.map(dbStep)];

function unitOf(name: string): { node: string; kind: string } | undefined {
  const node = parseNodeStep(name);
  if (node) return { node: nodeScope(node.node, node.rollback), kind: node.kind };
  const [owner, kind] = name.split("/");
  return kind === "attach" ? { node: owner, kind } : undefined;
}

/** What is wrong with what a rerun would run; empty when it is safe. */
function violations(
  edit: EditCase,
  next: Registered,
  finished: ReadonlySet<string>,
  ops: Map<string, Operation>,
): string[] {
  const problems: string[] = [];
  const ran = (name: string) => runs(ops.get(name) ?? "same");
  if (edit.generation) {
    for (const step of next.steps) {
      const backupKept =
        edit.generation === "version" && step.name === "db/backup" && finished.has(step.name);
      if (!ran(step.name) && !backupKept)
        problems.push(`${step.name} is not replayed for a new target ${edit.generation}`);
      if (backupKept && ran(step.name))
        problems.push("db/backup retaken for a new version of the same release");
    }
    return problems;
  }
  const units = new Map<string, string[]>();
  for (const step of next.steps) {
    const unit = unitOf(step.name);
    if (unit && CHANGING.has(unit.kind)) units.set(unit.node, [...(units.get(unit.node) ?? []), step.name]);
  }
  for (const [node, steps] of units) {
    const rerun = steps.filter((s) => finished.has(s) && ran(s));
    const running = steps.filter(ran);
    if (rerun.length > 0 && running.length !== steps.length)
      problems.push(
        `${node}: ${rerun.join(", ")} run again, but not ${steps.filter((s) => !ran(s)).join(", ")}`,
      );
  }
  const execSwitch = differs(edit.before.exec ?? "native", edit.after.exec ?? "native");
  for (const name of NEVER_AGAIN) {
    if (!finished.has(name) || !ran(name)) continue;
    // The schema scripts are other resources under the other executor: they run again, and say
    // "Database is up to date" (glance-manage's reruns are safe; README, "What a rerun does").
    const schemaScript = ["db/expand", "db/migrate", "db/verify", "db/contract"].includes(name);
    if (!(execSwitch && schemaScript)) problems.push(`${name} runs again after it finished`);
  }
  return problems;
}

/**
 * During a rollback (the driver's `rollback` of every node): the edits an operator makes to how nodes
 * are reached and changed, and rollbackTo itself, which is the rollback's target (a replay).
 */
const ROLLBACK_BLOCKS = ["exec", "nodes", "ssh", "loadBalancer", "nodeCommands", "rollbackTo"];
const ROLLBACK_BASE = BASES[1];
const rollbackEdits: EditCase[] = leaves
  .filter((leaf) => ROLLBACK_BLOCKS.includes(plainPath(leaf).split(".")[0]))
  .flatMap((leaf) => {
    const edit = editOf(leaf, 1, [ROLLBACK_BASE], {
      "rollbackTo.release": "release",
      "rollbackTo.version": "version",
    });
    return edit
      ? [{ ...edit, title: `during a rollback: ${leaf.path}`, rollbackNodes: ["node-1", "node-2", "node-3"] }]
      : [];
  });

const allEdits = [...keyEdits, ...structuralEdits, ...rollbackEdits];
let checkedCases = 0;

describe("what a rerun runs after any edit, at any stopping point (generated from the schema)", () => {
  it("starts from valid configs only", () => {
    for (const { title, config } of BASES) expect(parses(config), title).toBeDefined();
  });

  it("edits every key of the schema, or names why it cannot", () => {
    // A key with no valid edit needs an entry in EXAMPLE_VALUES (test/unit/support/schemaEdits.ts).
    expect(uneditable, `no valid edit for: ${uneditable.join(", ")}; add examples`).toEqual([]);
    expect(leaves.length).toBeGreaterThan(80);
    expect([...new Set(discriminators.map(plainPath))].sort()).toEqual(["backup.type", "loadBalancer.type"]);
    expect(Object.keys(EXAMPLE_VALUES).length).toBeGreaterThan(0);
  });

  it.each(allEdits.map((edit) => [edit.title, edit] as const))("%s", async (_title, edit) => {
    const previous = await registered(edit.before, SECRETS, edit.rollbackNodes);
    if (edit.rollbackNodes && edit.title.endsWith("nodes[].name")) {
      // A node renamed during a rollback: the rollback of the node the state names is refused at
      // registration, before any step, naming the node.
      await expect(registered(edit.after, SECRETS, edit.rollbackNodes)).rejects.toThrow(
        "cannot roll back node-2: it is not in the stack's nodes",
      );
      return;
    }
    const next = await registered(edit.after, SECRETS, edit.rollbackNodes);
    const problems: string[] = [];
    for (let count = 0; count <= previous.steps.length; count++) {
      const finished = stoppedAfter(previous, count);
      const ops = await operations(previous, next, finished);
      const stop = count === 0 ? "before any step" : `after ${previous.steps[count - 1].name}`;
      problems.push(...violations(edit, next, finished, ops).map((p) => `stopped ${stop}: ${p}`));
      checkedCases++;
    }
    expect(problems.slice(0, 10)).toEqual([]);
  });

  it("the same config runs nothing that finished, and the count of generated cases", async () => {
    const config = stackConfig(3);
    const previous = await registered(config, SECRETS);
    const next = await registered(config, SECRETS);
    const ops = await operations(previous, next, stoppedAfter(previous, previous.steps.length));
    expect([...ops.values()].filter(runs)).toEqual([]);
    console.log(
      `edit cases: ${allEdits.length} (${keyEdits.length} key edits, ${structuralEdits.length} structural); cases with a stopping point: ${checkedCases}`,
    );
    expect(checkedCases).toBeGreaterThan(allEdits.length * 10);
  });
});

// The model itself must be able to fail: an edit of a node's stop command, with a diff that compared
// the request (the rule before issue 30), re-runs finished stops without their drains.
describe("the model's negative control", () => {
  it("finds the partial unit that a request-comparing diff would run", async () => {
    const before = stackConfig(3);
    const after = { ...before, nodeCommands: { stopCommand: "systemctl stop glance-api-edited" } };
    const previous = await registered(before, SECRETS);
    const next = await registered(after, SECRETS);
    const finished = stoppedAfter(previous, previous.steps.length);
    for (const step of next.steps) {
      // What the engine would see with the old diff: any change of the request is a change.
      const old = previous.byName.get(step.name);
      if (old) old.inputs = { ...old.inputs, identity: { request: old.inputs.request } };
      step.inputs = { ...step.inputs, identity: { request: step.inputs.request } };
    }
    const ops = await operations(previous, next, finished);
    const problems = violations({ title: "stopCommand", before, after }, next, finished, ops);
    expect(problems.some((p) => /node-2: node-2\/stop run again, but not node-2\/drain/.test(p))).toBe(true);
  });
});
