import { UpgradeConfig } from "./config";
import { lbKindOf } from "./lb/registry";
import {
  dbStep,
  FLEET_VERIFY_STEP,
  nodeStep,
  NodeStepKind,
  PREFLIGHT_STEP,
  RELEASE_CHANGE_KINDS,
} from "./stepIds";
import { fleetWaves, Wave } from "./waves";

export type StepKind =
  | "preflight"
  | "backup"
  | "provision"
  | "prestage"
  | "drain"
  | "stop"
  | "upgrade"
  | "upgrade-check"
  | "allow-functions"
  | "expand"
  | "migrate"
  | "verify-migrations"
  | "start"
  | "admit"
  | "bake"
  | "report-version"
  | "fleet-verify"
  | "contract"
  | "restore-setting";

export interface PlanStep {
  /** The resource name, read as the runbook: `node-2/drain`, `db/expand`. */
  id: string;
  kind: StepKind;
  /** The node the step acts on (node steps only). */
  node?: string;
  /** 0 for the NEW NODE, 1.. for the waves after it; undefined for fleet-wide steps. */
  wave?: number;
  /** Ids of the steps that must finish first. */
  after: string[];
  description: string;
}

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

/** The ordered plan: pure data from config, the single source of the chain the components wire. */
export function buildPlan(config: UpgradeConfig): Plan {
  const lb = config.loadBalancer;
  const release = config.targetRelease;
  const steps: PlanStep[] = [];
  const add = (step: PlanStep): string => {
    steps.push(step);
    return step.id;
  };
  const describe = nodeStepDescription(release, config.bake.windowSeconds);
  /** The prestage step of each node that has one, by node. */
  const prestaged = new Map<string, string>();
  /**
   * One node's steps of these kinds, the first after `after`, each next after the one before. A
   * node's drain also waits for its own prestage, so the node leaves rotation with the release fetched.
   */
  const chain = (node: string, wave: number, kinds: readonly ChainKind[], after: string[]): string => {
    let previous = after;
    for (const kind of kinds) {
      const description = describe(kind, wave === 0);
      const prestage = kind === "drain" ? prestaged.get(node) : undefined;
      const waitsFor = prestage === undefined ? previous : [...previous, prestage];
      previous = [add({ id: nodeStep(node, kind), kind, node, wave, after: waitsFor, description })];
    }
    return previous[0];
  };

  const preflight = add({
    id: PREFLIGHT_STEP,
    kind: "preflight",
    after: [],
    description: "check config, database privileges, load balancer and every node before touching anything",
  });
  const backup = add({
    id: dbStep("backup"),
    kind: "backup",
    after: [preflight],
    description:
      config.backup.type === "mysqldump"
        ? `mysqldump the ${config.database.name} database to ${backupTarget(config)}`
        : `RDS snapshot of ${config.backup.dbInstanceIdentifier}`,
  });

  const newNode = config.newNodeName;
  const provisioned = "provision" in config.newNode;
  const waves = fleetWaves(
    config.nodes.map((n) => n.name),
    newNode,
    lb.maxUnavailable,
  );

  // Every node that will be drained fetches the release first, while it still serves, all of them
  // at once: each prestage waits only for the preflight and the backup. A provisioned NEW NODE is
  // skipped: it serves nothing before its upgrade, which follows its launch at once.
  if (config.nodeCommands.prestageCommand !== undefined) {
    for (const wave of waves) {
      for (const node of wave.nodes) {
        if (provisioned && node === newNode) continue;
        const id = add({
          id: nodeStep(node, "prestage"),
          kind: "prestage",
          node,
          wave: wave.index,
          after: [preflight, backup],
          description: describe("prestage", wave.index === 0),
        });
        prestaged.set(node, id);
      }
    }
  }

  const upgraded = chain(newNode, 0, provisioned ? ["provision", "upgrade"] : UNTIL_START, [backup]);
  const checked = chain(newNode, 0, ["upgrade-check"], [upgraded]);
  const allow = add({
    id: dbStep("allow-functions"),
    kind: "allow-functions",
    after: [checked],
    description: "set log_bin_trust_function_creators=1 if binary logging needs it (previous value kept)",
  });
  const expand = add({
    id: dbStep("expand"),
    kind: "expand",
    after: [allow],
    description: `glance-manage db expand (from ${newNode})`,
  });
  const migrate = add({
    id: dbStep("migrate"),
    kind: "migrate",
    after: [expand],
    description: "glance-manage db migrate",
  });
  const verify = add({
    id: dbStep("verify"),
    kind: "verify-migrations",
    after: [migrate],
    description: "glance-manage db check: no expand or data migration pending",
  });
  // The health gate is part of the start step: a failed gate leaves no start in the state, so a plain
  // `pulumi up` runs the start again together with its gate.
  const bake: ChainKind[] = config.bake.windowSeconds > 0 ? ["bake"] : [];
  let previousGates = [chain(newNode, 0, [...FROM_START, ...bake], [verify])];

  for (const wave of waves.slice(1)) {
    previousGates = wave.nodes.map((node) =>
      chain(node, wave.index, [...RELEASE_CHANGE_KINDS, ...bake], previousGates),
    );
  }

  // Each wave's drains wait for every gate of the wave before, so the last wave's gates already come
  // after every node's gate. Listing every gate on every version report would cost N² edges (253,507
  // at 500 nodes), which the engine pays for on every preview and every checkpoint.
  const lastGates = previousGates;
  const versionReports = waves
    .flatMap((wave) => wave.nodes)
    .map((node) =>
      add({
        id: nodeStep(node, "version"),
        kind: "report-version",
        node,
        after: lastGates,
        description: "read the release the node runs, once every node is back in rotation",
      }),
    );
  const fleet = add({
    id: FLEET_VERIFY_STEP,
    kind: "fleet-verify",
    after: versionReports,
    description: `every node reports ${config.targetVersion} and the load balancer holds only upgraded nodes`,
  });
  const contract = add({
    id: dbStep("contract"),
    kind: "contract",
    after: [fleet],
    description: "glance-manage db contract",
  });
  add({
    id: dbStep("restore-setting"),
    kind: "restore-setting",
    after: [contract],
    description: "restore log_bin_trust_function_creators to its previous value",
  });

  const pause = pausePoint(config, steps);
  return {
    targetRelease: release,
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

/** The node steps a plan chains (the version report is added on its own, as `report-version`). */
type ChainKind = NodeStepKind & StepKind;

// The NEW NODE is changed like every node but started only once the schema is expanded and migrated.
const START = RELEASE_CHANGE_KINDS.indexOf("start");
const UNTIL_START: ChainKind[] = RELEASE_CHANGE_KINDS.slice(0, START);
const FROM_START: ChainKind[] = RELEASE_CHANGE_KINDS.slice(START);

function nodeStepDescription(release: string, bakeSeconds: number) {
  return (kind: ChainKind, newNode: boolean): string => {
    switch (kind) {
      case "provision":
        return "launch the NEW NODE's EC2 instance (kept on delete)";
      case "prestage":
        return `prestageCommand: fetch release ${release} while the node still serves; nothing installed`;
      case "drain":
        return "take out of rotation; wait for in-flight requests";
      case "stop":
        return "stop Glance gracefully and verify it is down";
      case "upgrade":
        return newNode ? `install release ${release}; do not start it` : `install release ${release}`;
      case "upgrade-check":
        return "glance-status upgrade check with the new code: a failure halts before any schema change";
      case "start":
        return "start Glance on the new release; wait until its health check answers 200";
      case "admit":
        return "put back in rotation; wait until the load balancer sees it healthy";
      case "bake":
        return `watch it serve for ${bakeSeconds} s within the error budget before the next wave`;
    }
  };
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
 * checkpoint is not pre-staged either: nothing runs on it until the release is approved.
 */
export function stepsToRun(plan: Plan): PlanStep[] {
  if (!plan.pause?.active) return plan.steps;
  const index = plan.steps.findIndex((s) => s.id === plan.pause?.afterStep);
  const kept = plan.steps.slice(0, index + 1);
  const drained = new Set(kept.filter((s) => s.kind === "drain").map((s) => s.node));
  return kept.filter((s) => s.kind !== "prestage" || drained.has(s.node));
}

export function backupTarget(config: UpgradeConfig): string {
  return config.backup.type === "mysqldump"
    ? config.backup.path.replaceAll("{release}", config.targetRelease)
    : `rds-snapshot:${config.backup.dbInstanceIdentifier}`;
}

/** The plan as a runbook an operator reads before approving. */
export function renderRunbook(plan: Plan): string {
  const lines = [
    `Glance rolling upgrade to ${plan.targetRelease} (nodes must report ${plan.targetVersion})`,
    `  NEW NODE:        ${plan.newNode.name}${plan.newNode.provisioned ? " (provisioned)" : " (existing)"}`,
    `  load balancer:   ${plan.loadBalancer}`,
    `  backup:          ${plan.backup}`,
    `  drain timeout:   ${plan.drainTimeoutSeconds} s; maxUnavailable ${plan.maxUnavailable}; minHealthy ${plan.minHealthy}`,
    `  executor:        ${plan.executor}`,
    ...(plan.steps.some((s) => s.kind === "prestage")
      ? ["  prestage:        each node runs prestageCommand before its drain, while it still serves"]
      : []),
    `  waves:           ${plan.waves.map((w) => `${w.index}: ${w.nodes.join(", ")}`).join(" | ")}`,
    "",
    "Steps, in order:",
  ];
  plan.steps.forEach((step, index) => {
    const where = step.wave === undefined ? "" : ` [wave ${step.wave}]`;
    lines.push(`  ${String(index + 1).padStart(3)}. ${step.id.padEnd(24)} ${step.description}${where}`);
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
