import { UpgradeConfig } from "./config";
import { haproxyRuntimeSummary } from "./membership/targets";

export type StepKind =
  | "preflight"
  | "backup"
  | "provision"
  | "drain"
  | "stop"
  | "upgrade"
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
  waves: Array<{ index: number; nodes: string[] }>;
  steps: PlanStep[];
  /** A checkpoint: the chain stops after `afterStep` until the target release is approved. */
  pause?: { afterStep: string; active: boolean };
}

/** Splits the nodes after the NEW NODE into waves of at most `maxUnavailable`, in config order. */
export function wavesAfterNewNode(nodeNames: string[], newNode: string, maxUnavailable: number): string[][] {
  const rest = nodeNames.filter((name) => name !== newNode);
  const waves: string[][] = [];
  for (let i = 0; i < rest.length; i += maxUnavailable) waves.push(rest.slice(i, i + maxUnavailable));
  return waves;
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

  const preflight = add({
    id: "preflight",
    kind: "preflight",
    after: [],
    description: "check config, database privileges, load balancer and every node before touching anything",
  });
  const backup = add({
    id: "db/backup",
    kind: "backup",
    after: [preflight],
    description:
      config.backup.type === "mysqldump"
        ? `mysqldump the ${config.database.name} database to ${backupTarget(config)}`
        : `RDS snapshot of ${config.backup.dbInstanceIdentifier}`,
  });

  const newNode = config.newNodeName;
  const provisioned = "provision" in config.newNode;
  let upgraded: string;
  if (provisioned) {
    const provision = add({
      id: `${newNode}/provision`,
      kind: "provision",
      node: newNode,
      wave: 0,
      after: [backup],
      description: "launch the NEW NODE's EC2 instance (kept on delete)",
    });
    upgraded = add(
      nodeStep(newNode, 0, "upgrade", [provision], `install release ${release}; do not start it`),
    );
  } else {
    const drain = add(
      nodeStep(newNode, 0, "drain", [backup], `take out of rotation; wait for in-flight requests`),
    );
    const stop = add(nodeStep(newNode, 0, "stop", [drain], "stop Glance gracefully and verify it is down"));
    upgraded = add(nodeStep(newNode, 0, "upgrade", [stop], `install release ${release}; do not start it`));
  }
  const allow = add({
    id: "db/allow-functions",
    kind: "allow-functions",
    after: [upgraded],
    description: "set log_bin_trust_function_creators=1 if binary logging needs it (previous value kept)",
  });
  const expand = add({
    id: "db/expand",
    kind: "expand",
    after: [allow],
    description: `glance-manage db expand (from ${newNode})`,
  });
  const migrate = add({
    id: "db/migrate",
    kind: "migrate",
    after: [expand],
    description: "glance-manage db migrate",
  });
  const verify = add({
    id: "db/verify",
    kind: "verify-migrations",
    after: [migrate],
    description: "glance-manage db check: no expand or data migration pending",
  });
  const bakeSeconds = config.bake.windowSeconds;
  let previousAdmits = [addStartAdmit(steps, newNode, 0, verify, bakeSeconds)];

  wavesAfterNewNode(
    config.nodes.map((n) => n.name),
    newNode,
    lb.maxUnavailable,
  ).forEach((wave, waveIndex) => {
    const admits = wave.map((node) => {
      const drain = add(
        nodeStep(
          node,
          waveIndex + 1,
          "drain",
          previousAdmits,
          "take out of rotation; wait for in-flight requests",
        ),
      );
      const stop = add(
        nodeStep(node, waveIndex + 1, "stop", [drain], "stop Glance gracefully and verify it is down"),
      );
      const upgrade = add(nodeStep(node, waveIndex + 1, "upgrade", [stop], `install release ${release}`));
      return addStartAdmit(steps, node, waveIndex + 1, upgrade, bakeSeconds);
    });
    previousAdmits = admits;
  });

  // Each wave's drains wait for every gate of the wave before, so the last wave's gates already come
  // after every node's gate. Listing every gate on every version report would cost N² edges (253,507
  // at 500 nodes), which the engine pays for on every preview and every checkpoint.
  const lastGates = previousAdmits;
  const versionReports = [newNode, ...config.nodes.map((n) => n.name).filter((n) => n !== newNode)].map(
    (node) =>
      add({
        id: `${node}/version`,
        kind: "report-version",
        node,
        after: lastGates,
        description: "read the release the node runs, once every node is back in rotation",
      }),
  );
  const fleet = add({
    id: "fleet/verify",
    kind: "fleet-verify",
    after: versionReports,
    description: `every node reports ${config.targetVersion} and the load balancer holds only upgraded nodes`,
  });
  const contract = add({
    id: "db/contract",
    kind: "contract",
    after: [fleet],
    description: "glance-manage db contract",
  });
  add({
    id: "db/restore-setting",
    kind: "restore-setting",
    after: [contract],
    description: "restore log_bin_trust_function_creators to its previous value",
  });

  const fleetNodes = config.nodes.map((n) => n.name);
  const pause = pausePoint(config, steps);
  return {
    targetRelease: release,
    targetVersion: config.targetVersion,
    newNode: { name: newNode, provisioned },
    loadBalancer:
      lb.type === "alb"
        ? `ALB target group ${lb.targetGroupArn}`
        : `HAProxy ${haproxyRuntimeSummary(config)} backend ${lb.backend}`,
    backup: backupTarget(config),
    drainTimeoutSeconds: lb.drainTimeoutSeconds,
    maxUnavailable: lb.maxUnavailable,
    minHealthy: lb.minHealthy,
    executor: config.exec,
    waves: [
      { index: 0, nodes: [newNode] },
      ...wavesAfterNewNode(fleetNodes, newNode, lb.maxUnavailable).map((nodes, i) => ({
        index: i + 1,
        nodes,
      })),
    ],
    steps,
    ...(pause ? { pause } : {}),
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

/** The steps a run registers: all of them, or those up to an active checkpoint. */
export function stepsToRun(plan: Plan): PlanStep[] {
  if (!plan.pause?.active) return plan.steps;
  const index = plan.steps.findIndex((s) => s.id === plan.pause?.afterStep);
  return plan.steps.slice(0, index + 1);
}

function nodeStep(
  node: string,
  wave: number,
  kind: StepKind,
  after: string[],
  description: string,
): PlanStep {
  return { id: `${node}/${kind}`, kind, node, wave, after, description };
}

function addStartAdmit(
  steps: PlanStep[],
  node: string,
  wave: number,
  after: string,
  bakeSeconds = 0,
): string {
  // The health gate is part of the start step: a failed gate leaves no start in the state, so a plain
  // `pulumi up` runs the start again together with its gate.
  const start = nodeStep(
    node,
    wave,
    "start",
    [after],
    "start Glance on the new release; wait until its health check answers 200",
  );
  const admit = nodeStep(
    node,
    wave,
    "admit",
    [start.id],
    "put back in rotation; wait until the load balancer sees it healthy",
  );
  steps.push(start, admit);
  if (bakeSeconds <= 0) return admit.id;
  const bake = nodeStep(
    node,
    wave,
    "bake",
    [admit.id],
    `watch it serve for ${bakeSeconds} s within the error budget before the next wave`,
  );
  steps.push(bake);
  return bake.id;
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
