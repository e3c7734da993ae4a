import type { LbSettingsReading } from "../steps/lb/loadBalancer";
import { UpgradeConfig } from "./config";
import { lbKindOf } from "./lb/registry";
import { backupTarget, kindSpec, NodeStepKind, releaseChangeKinds, StepKind, StepScope } from "./stepKinds";
import { fleetWideStep, nodeStep } from "./stepIds";
import { fleetWaves, Wave } from "./waves";

export { backupTarget } from "./stepKinds";
export type { StepKind } from "./stepKinds";

export interface PlanStep {
  /** The resource name, read as the runbook: `node-2/drain`, `db/expand`. */
  id: string;
  /** Where it acts; with the kind, what it is (plan/stepKinds.ts): `db/verify` is db kind `verify`. */
  scope: StepScope;
  /** The last segment of its id. */
  kind: StepKind;
  /** The node the step acts on (node steps only). */
  node?: string;
  /** 0 for the NEW NODE, 1.. for the waves after it; undefined for fleet-wide steps. */
  wave?: number;
  /** Ids of the steps that must finish first. */
  after: string[];
  description: string;
}

/** A step on one node. */
export type NodePlanStep = PlanStep & { scope: "node"; kind: NodeStepKind; node: string };

export interface Plan {
  targetRelease: string;
  targetVersion: string;
  newNode: { name: string; provisioned: boolean };
  loadBalancer: string;
  backup: string;
  drainTimeoutSeconds: number;
  maxUnavailable: number;
  minHealthy: number;
  executor: string;
  waves: Wave[];
  steps: PlanStep[];
  /** A checkpoint: the chain stops after `afterStep` until the target release is approved. */
  pause?: { afterStep: string; active: boolean };
}

/**
 * The ordered plan: pure data from config, the single source of the chain the components wire.
 * Each phase below is a pure function of the config and of the steps before it.
 */
export function buildPlan(config: UpgradeConfig): Plan {
  const lb = config.loadBalancer;
  const newNode = config.newNodeName;
  const provisioned = "provision" in config.newNode;
  const waves = fleetWaves(
    config.nodes.map((n) => n.name),
    newNode,
    lb.maxUnavailable,
  );
  const [preflight, backup] = fleetWideSequence(
    config,
    [
      ["preflight", "preflight"],
      ["db", "backup"],
    ],
    [],
  );
  const prestages = prestageSteps(config, waves, provisioned, [preflight.id, backup.id]);
  const prestageOf = (node: string) => prestages.find((s) => s.node === node)?.id;
  const kinds = newNodeKinds(provisioned);
  const newNodeChange = nodeChain(config, newNode, 0, kinds.beforeSchema, [backup.id], prestageOf);
  const schema = fleetWideSequence(
    config,
    [
      ["db", "allow-functions"],
      ["db", "expand"],
      ["db", "migrate"],
      ["db", "verify"],
    ],
    [lastId(newNodeChange)],
  );
  const newNodeBack = nodeChain(
    config,
    newNode,
    0,
    [...kinds.afterSchema, ...bakeKinds(config)],
    [lastId(schema)],
    prestageOf,
  );
  const waveSteps = laterWaves(config, waves, [lastId(newNodeBack)], prestageOf);
  const closing = closingSteps(config, waves, waveSteps.lastGates);
  const steps = [
    preflight,
    backup,
    ...prestages,
    ...newNodeChange,
    ...schema,
    ...newNodeBack,
    ...waveSteps.steps,
    ...closing,
  ];
  const pause = pausePoint(config, steps);
  return {
    targetRelease: config.targetRelease,
    targetVersion: config.targetVersion,
    newNode: { name: newNode, provisioned },
    loadBalancer: lbKindOf(lb).describe(lb, config),
    backup: backupTarget(config),
    drainTimeoutSeconds: lb.drainTimeoutSeconds,
    maxUnavailable: lb.maxUnavailable,
    minHealthy: lb.minHealthy,
    executor: config.exec,
    waves,
    steps,
    ...(pause ? { pause } : {}),
  };
}

const lastId = (steps: readonly PlanStep[]): string => {
  const last = steps.at(-1);
  if (!last) throw new Error("a phase of the plan has no step");
  return last.id;
};

/** Steps that act on no node, each after the one before, the first after `after`. */
function fleetWideSequence(
  config: UpgradeConfig,
  kinds: ReadonlyArray<readonly [Exclude<StepScope, "node">, StepKind]>,
  after: string[],
): PlanStep[] {
  const steps: PlanStep[] = [];
  let previous = after;
  for (const [scope, kind] of kinds) {
    const id = fleetWideStep(scope, kind);
    const description = kindSpec(scope, kind)?.describe({ config, newNode: false });
    if (description === undefined) throw new Error(`no step kind ${scope}/${kind} is declared`);
    steps.push({ id, scope, kind, after: previous, description });
    previous = [id];
  }
  return steps;
}

/** One node's step of one kind (in no wave: the version reports, once every wave is done). */
function nodeStepOf(
  config: UpgradeConfig,
  node: string,
  wave: number | undefined,
  kind: NodeStepKind,
  after: string[],
): NodePlanStep {
  const description = kindSpec("node", kind).describe({ config, newNode: wave === 0 });
  return {
    id: nodeStep(node, kind),
    scope: "node",
    kind,
    node,
    ...(wave === undefined ? {} : { wave }),
    after,
    description,
  };
}

/**
 * One node's steps of these kinds, the first after `after`, each next after the one before. A
 * node's drain also waits for its own prestage, so the node leaves rotation with the release fetched.
 */
function nodeChain(
  config: UpgradeConfig,
  node: string,
  wave: number,
  kinds: readonly NodeStepKind[],
  after: string[],
  prestageOf: (node: string) => string | undefined,
): PlanStep[] {
  const steps: PlanStep[] = [];
  let previous = after;
  for (const kind of kinds) {
    const prestage = kind === "drain" ? prestageOf(node) : undefined;
    const step = nodeStepOf(
      config,
      node,
      wave,
      kind,
      prestage === undefined ? previous : [...previous, prestage],
    );
    steps.push(step);
    previous = [step.id];
  }
  return steps;
}

/**
 * Every node that will be drained fetches the release first, while it still serves, all of them
 * at once: each prestage waits only for the preflight and the backup. A provisioned NEW NODE is
 * skipped: it serves nothing before its upgrade, which follows its launch at once.
 */
function prestageSteps(
  config: UpgradeConfig,
  waves: Wave[],
  provisioned: boolean,
  after: string[],
): PlanStep[] {
  if (config.nodeCommands.prestageCommand === undefined) return [];
  return waves.flatMap((wave) =>
    wave.nodes
      .filter((node) => !(provisioned && node === config.newNodeName))
      .map((node) => nodeStepOf(config, node, wave.index, "prestage", after)),
  );
}

/**
 * The NEW NODE is changed like every node but started only once the schema is expanded and migrated
 * (a provisioned one is launched instead of drained and stopped), and checked with the new code
 * before any schema change: upstream's upgrade check, then its config against the new release's options.
 */
function newNodeKinds(provisioned: boolean): { beforeSchema: NodeStepKind[]; afterSchema: NodeStepKind[] } {
  const change = releaseChangeKinds();
  const start = change.indexOf("start");
  const untilStart = change.slice(0, start);
  const installed = provisioned
    ? ["provision" as const, ...untilStart.slice(untilStart.indexOf("upgrade"))]
    : untilStart;
  return {
    beforeSchema: [...installed, "upgrade-check", "config-check"],
    afterSchema: change.slice(start),
  };
}

/** The bake after each admission, when the stack has a bake window. */
const bakeKinds = (config: UpgradeConfig): NodeStepKind[] => (config.bake.windowSeconds > 0 ? ["bake"] : []);

/**
 * The waves after the NEW NODE: each node's release change (and bake), every drain of a wave after
 * every gate (admit or bake) of the wave before.
 */
function laterWaves(
  config: UpgradeConfig,
  waves: Wave[],
  newNodeGate: string[],
  prestageOf: (node: string) => string | undefined,
): { steps: PlanStep[]; lastGates: string[] } {
  const kinds = [...releaseChangeKinds(), ...bakeKinds(config)];
  const steps: PlanStep[] = [];
  let previousGates = newNodeGate;
  for (const wave of waves.slice(1)) {
    const chains = wave.nodes.map((node) =>
      nodeChain(config, node, wave.index, kinds, previousGates, prestageOf),
    );
    steps.push(...chains.flat());
    previousGates = chains.map(lastId);
  }
  return { steps, lastGates: previousGates };
}

/**
 * Once every node is back: each node's version report, the fleet check, contract and the restore of
 * the MySQL setting. Each wave's drains wait for every gate of the wave before, so the last wave's
 * gates already come after every node's gate. Listing every gate on every version report would cost
 * N² edges (253,507 at 500 nodes), which the engine pays for on every preview and every checkpoint.
 */
function closingSteps(config: UpgradeConfig, waves: Wave[], lastGates: string[]): PlanStep[] {
  const reports = waves
    .flatMap((wave) => wave.nodes)
    .map((node) => ({
      ...nodeStepOf(config, node, 0, "version", lastGates),
      wave: undefined,
    }));
  const rest = fleetWideSequence(
    config,
    [
      ["fleet", "verify"],
      ["db", "contract"],
      ["db", "restore-setting"],
    ],
    reports.map((r) => r.id),
  );
  return [...reports, ...rest];
}

/**
 * The rollback of upgraded nodes (the config's target is then `rollbackTo`): each node's release
 * change, in order, one node after the other, under `rollback/` (no prestage, no database step).
 */
export function rollbackSteps(config: UpgradeConfig, nodes: readonly string[]): NodePlanStep[] {
  const steps: NodePlanStep[] = [];
  let previous: string[] = [];
  for (const [index, node] of nodes.entries()) {
    for (const kind of releaseChangeKinds()) {
      const step = nodeStepOf(config, node, index + 1, kind, previous);
      step.id = nodeStep(node, kind, true);
      steps.push(step);
      previous = [step.id];
    }
  }
  return steps;
}

/** Where a `pauseAfter` checkpoint stops the chain: after the last admission of that wave. */
function pausePoint(config: UpgradeConfig, steps: PlanStep[]): Plan["pause"] {
  if (config.pauseAfter === undefined) return undefined;
  const wave = config.pauseAfter === "newNode" ? 0 : config.pauseAfter;
  const gate = config.bake.windowSeconds > 0 ? "bake" : "admit";
  const afterStep = steps.filter((s) => s.kind === gate && s.wave === wave).at(-1)?.id;
  if (!afterStep) return undefined;
  return { afterStep, active: config.approvedRelease !== config.targetRelease };
}

/**
 * The steps a run registers: all of them, or those up to an active checkpoint. A node past the
 * checkpoint is not pre-staged either: nothing runs on it until the release is approved. `passed`:
 * checks whose place in the chain a resumed state has passed (driver/resume.ts, `passedChecks`).
 */
export function stepsToRun(plan: Plan, passed: readonly string[] = []): PlanStep[] {
  const steps = withoutPassed(plan.steps, passed);
  if (!plan.pause?.active) return steps;
  const index = steps.findIndex((s) => s.id === plan.pause?.afterStep);
  const kept = steps.slice(0, index + 1);
  const drained = new Set(kept.filter((s) => s.kind === "drain").map((s) => s.node));
  return kept.filter((s) => s.kind !== "prestage" || drained.has(s.node));
}

/**
 * The steps without the passed checks (only kinds declared `passedOnResume` may be passed), each
 * step that waited for one waiting for what that check waited for instead.
 */
function withoutPassed(steps: PlanStep[], passed: readonly string[]): PlanStep[] {
  const left = new Map(
    steps
      .filter((s) => passed.includes(s.id) && kindSpec(s.scope, s.kind)?.passedOnResume === true)
      .map((s) => [s.id, s.after]),
  );
  if (left.size === 0) return steps;
  const resolve = (ids: readonly string[]): string[] =>
    ids.flatMap((id) => {
      const instead = left.get(id);
      return instead ? resolve(instead) : [id];
    });
  return steps.filter((s) => !left.has(s.id)).map((s) => ({ ...s, after: [...new Set(resolve(s.after))] }));
}

/**
 * What the load balancer's own settings let each node's drain and admit take, as the driver read
 * them before printing the runbook (steps/preflight.ts readLoadBalancerSettings); or why it could not.
 */
export type RunbookTimes = Pick<LbSettingsReading, "settings" | "drain" | "admit"> | { unread: string };

function expectedOf(step: PlanStep, times: RunbookTimes | undefined): string {
  if (times === undefined || "unread" in times) return "";
  if (step.kind === "drain") return ` (expected: up to ${times.drain.upToSeconds} s)`;
  if (step.kind === "admit") return ` (expected: up to ${times.admit.upToSeconds} s)`;
  return "";
}

function timesLines(times: RunbookTimes | undefined): string[] {
  if (times === undefined) return [];
  if ("unread" in times) return [`  expected times:  not read (${times.unread})`];
  return [
    `  lb settings:     ${times.settings}`,
    `  per node:        drain ${times.drain.text}`,
    `                   admit ${times.admit.text}`,
  ];
}

/**
 * The plan as a runbook an operator reads before approving; with `times`, each drain and admit says
 * how long it is expected to take.
 */
export function renderRunbook(plan: Plan, times?: RunbookTimes): string {
  const lines = [
    `Glance rolling upgrade to ${plan.targetRelease} (nodes must report ${plan.targetVersion})`,
    `  NEW NODE:        ${plan.newNode.name}${plan.newNode.provisioned ? " (provisioned)" : " (existing)"}`,
    `  load balancer:   ${plan.loadBalancer}`,
    `  backup:          ${plan.backup}`,
    `  drain timeout:   ${plan.drainTimeoutSeconds} s; maxUnavailable ${plan.maxUnavailable}; minHealthy ${plan.minHealthy}`,
    `  executor:        ${plan.executor}`,
    ...timesLines(times),
    ...(plan.steps.some((s) => s.kind === "prestage")
      ? ["  prestage:        each node runs prestageCommand before its drain, while it still serves"]
      : []),
    `  waves:           ${plan.waves.map((w) => `${w.index}: ${w.nodes.join(", ")}`).join(" | ")}`,
    "",
    "Steps, in order:",
  ];
  plan.steps.forEach((step, index) => {
    const where = step.wave === undefined ? "" : ` [wave ${step.wave}]`;
    lines.push(
      `  ${String(index + 1).padStart(3)}. ${step.id.padEnd(24)} ${step.description}${where}${expectedOf(step, times)}`,
    );
    if (plan.pause?.afterStep === step.id) {
      lines.push(
        plan.pause.active
          ? `       --- PAUSE: the chain stops here until ${plan.targetRelease} is approved (driver approve, or approvedRelease: ${plan.targetRelease})`
          : `       --- checkpoint (approved: ${plan.targetRelease})`,
      );
    }
  });
  return lines.join("\n");
}
