/**
 * The runbook's ordering rules as pure functions over the stack's resources, so they can be checked
 * by the policy pack (CrossGuard) and, in tests, on the registrations of the mocked program.
 * Resources are matched by their runbook names: `node-2/drain`, `db/expand`, `db/contract`.
 */
import { dbStep, nodeScope, nodeStep, parseNodeStep, PREFLIGHT_STEP } from "../plan/stepIds";
import { kindSpec, nodeStepKinds } from "../plan/stepKinds";

/** A resource as the rules see it: its name, its type, and the names of what it depends on. */
export interface RunbookResource {
  name: string;
  type: string;
  dependsOn: string[];
}

export interface Violation {
  /** The rule that refused the program. */
  rule: string;
  message: string;
  /** The resource the violation is about, when there is one. */
  resource?: string;
}

export interface RunbookRule {
  name: string;
  description: string;
  check(resources: readonly RunbookResource[]): Violation[];
}

const CONTRACT = dbStep("contract");
const EXPAND = dbStep("expand");

/** The dependency graph of a resource list, with memoised transitive dependencies. */
export class RunbookGraph {
  private readonly direct = new Map<string, Set<string>>();
  private readonly memo = new Map<string, Set<string>>();
  /** Node names, in the order their first step appears. */
  readonly nodes: string[] = [];

  constructor(resources: readonly RunbookResource[]) {
    for (const resource of resources) {
      // Two resources may share a name (a component and its step); their edges are merged.
      const deps = this.direct.get(resource.name) ?? new Set<string>();
      for (const dep of resource.dependsOn) deps.add(dep);
      this.direct.set(resource.name, deps);
      const node = nodeOf(resource.name);
      if (node !== undefined && !this.nodes.includes(node)) this.nodes.push(node);
    }
  }

  has(name: string): boolean {
    return this.direct.has(name);
  }

  /** Everything `name` waits for, directly or through other resources. */
  ancestors(name: string): ReadonlySet<string> {
    const known = this.memo.get(name);
    if (known) return known;
    const result = new Set<string>();
    const pending = [...(this.direct.get(name) ?? [])];
    while (pending.length > 0) {
      const next = pending.pop() as string;
      if (result.has(next)) continue;
      result.add(next);
      const memoised = this.memo.get(next);
      if (memoised) for (const dep of memoised) result.add(dep);
      else pending.push(...(this.direct.get(next) ?? []));
    }
    this.memo.set(name, result);
    return result;
  }

  dependsOn(later: string, earlier: string): boolean {
    return this.ancestors(later).has(earlier);
  }

  /**
   * The NEW NODE: the provisioned node, else the only node whose drain waits for no admission
   * (it leaves rotation first); if several do, the one whose upgrade precedes `db/expand`.
   */
  newNode(): { node?: string; candidates: string[] } {
    const provisioned = this.nodes.filter((node) => this.has(nodeStep(node, "provision")));
    if (provisioned.length > 0)
      return { node: provisioned.length === 1 ? provisioned[0] : undefined, candidates: provisioned };
    const firstOut = this.nodes.filter(
      (node) => this.has(nodeStep(node, "drain")) && this.admitsBefore(nodeStep(node, "drain")).length === 0,
    );
    if (firstOut.length === 1) return { node: firstOut[0], candidates: firstOut };
    const expanding = firstOut.filter((node) => this.dependsOn(EXPAND, nodeStep(node, "upgrade")));
    return { node: expanding.length === 1 ? expanding[0] : undefined, candidates: firstOut };
  }

  /** The admissions `name` waits for. */
  admitsBefore(name: string): string[] {
    return [...this.ancestors(name)].filter((dep) => parseNodeStep(dep)?.kind === "admit");
  }
}

/**
 * The node a step acts on (`node-2/drain` -> `node-2`; a rollback's `rollback/node-2/drain` ->
 * `rollback/node-2`), or undefined for fleet and database steps.
 */
export function nodeOf(name: string): string | undefined {
  const step = parseNodeStep(name);
  return step && nodeScope(step.node, step.rollback);
}

type Report = (message: string, resource?: string) => void;

function defineRule(
  name: string,
  description: string,
  check: (graph: RunbookGraph, report: Report) => void,
): RunbookRule {
  return {
    name,
    description,
    check(resources) {
      const violations: Violation[] = [];
      check(new RunbookGraph(resources), (message, resource) =>
        violations.push(resource === undefined ? { rule: name, message } : { rule: name, message, resource }),
      );
      return violations;
    },
  };
}

export const contractAfterEveryAdmission = defineRule(
  "contract-after-every-admission",
  "db/contract removes the old schema, so it must wait for every node to be upgraded and back in rotation (depend on every <node>/admit).",
  (graph, report) => {
    if (!graph.has(CONTRACT)) return;
    for (const node of graph.nodes) {
      const admit = nodeStep(node, "admit");
      if (!graph.has(admit)) {
        report(
          `${node} has no ${admit} step, so ${CONTRACT} cannot wait for it to be back in rotation on the new release.`,
          CONTRACT,
        );
      } else if (!graph.dependsOn(CONTRACT, admit)) {
        report(
          `${CONTRACT} does not depend on ${admit}: it could drop the old schema while ${node} still runs the old release. ` +
            `Make ${CONTRACT} wait (through fleet/verify) for every node's admit.`,
          CONTRACT,
        );
      }
    }
  },
);

export const drainAfterPreviousWave = defineRule(
  "drain-after-previous-wave",
  "Only the NEW NODE may leave rotation before any node is admitted back; every later wave's drain must depend on the previous wave's admission.",
  (graph, report) => {
    const drains = graph.nodes.filter((node) => graph.has(nodeStep(node, "drain")));
    if (drains.length === 0) return;
    const { node: newNode, candidates } = graph.newNode();
    if (newNode === undefined) {
      const why =
        candidates.length === 0
          ? "every drain waits for an admission"
          : `${candidates.map((n) => nodeStep(n, "drain")).join(", ")} all leave rotation before any node is admitted back`;
      report(
        `cannot tell which node is the NEW NODE: ${why}. Exactly one node (the NEW NODE) may drain first; ` +
          "every other drain must depend on the previous wave's admit.",
      );
      return;
    }
    const newAdmit = nodeStep(newNode, "admit");
    for (const node of drains) {
      if (node === newNode) continue;
      const drain = nodeStep(node, "drain");
      if (graph.admitsBefore(drain).length === 0) {
        report(
          `${drain} depends on no node's admit, so ${node} could leave rotation while the NEW NODE (${newNode}) ` +
            "or the previous wave is still out. Make it depend on the previous wave's admit.",
          drain,
        );
      } else if (!graph.dependsOn(drain, newAdmit)) {
        report(
          `${drain} does not depend on ${newAdmit}: ${node} could leave rotation before the NEW NODE is back in rotation on the new release.`,
          drain,
        );
      }
    }
  },
);

const UPGRADE_NEEDS = ["drain", "stop"] as const;
const UNSAFE_UPGRADE: Record<"provision" | (typeof UPGRADE_NEEDS)[number], string> = {
  drain: "while it still serves traffic",
  stop: "while its old services still run",
  provision: "before its instance exists",
};

export const upgradeAfterStopAndDrain = defineRule(
  "upgrade-after-stop-and-drain",
  "A node is upgraded only once it is out of rotation and its old services are verified stopped: <node>/upgrade depends on <node>/drain and <node>/stop (a provisioned NEW NODE's on its provision).",
  (graph, report) => {
    for (const node of graph.nodes) {
      const upgrade = nodeStep(node, "upgrade");
      if (!graph.has(upgrade)) continue;
      const required = graph.has(nodeStep(node, "provision")) ? (["provision"] as const) : UPGRADE_NEEDS;
      for (const kind of required) {
        const step = nodeStep(node, kind);
        if (!graph.has(step)) {
          report(`${node} has no ${step} step, so ${upgrade} could run ${UNSAFE_UPGRADE[kind]}.`, upgrade);
        } else if (!graph.dependsOn(upgrade, step)) {
          report(
            `${upgrade} does not depend on ${step}: ${node} could be upgraded ${UNSAFE_UPGRADE[kind]}.`,
            upgrade,
          );
        }
      }
    }
  },
);

export const expandWithNewNodeCode = defineRule(
  "expand-with-new-node-code",
  "db/expand runs the new release's glance-manage from the NEW NODE, so it must depend on the NEW NODE's upgrade.",
  (graph, report) => {
    if (!graph.has(EXPAND)) return;
    const { node: newNode, candidates } = graph.newNode();
    if (newNode === undefined) {
      report(
        `cannot tell which node is the NEW NODE (candidates: ${candidates.join(", ") || "none"}), ` +
          `so cannot check that ${EXPAND} runs with its new release.`,
        EXPAND,
      );
      return;
    }
    const upgrade = nodeStep(newNode, "upgrade");
    if (!graph.dependsOn(EXPAND, upgrade)) {
      report(
        `${EXPAND} does not depend on ${upgrade}: the schema could be expanded before the NEW NODE (${newNode}) has the new release's migrations.`,
        EXPAND,
      );
    }
  },
);

/** What a prestage waits for: nothing runs on a node before the checks and the backup. */
const PRESTAGE_NEEDS = [PREFLIGHT_STEP, dbStep("backup")] as const;

export const prestageBeforeOwnDrain = defineRule(
  "prestage-before-own-drain",
  "A node's optional prestage (prestageCommand) runs while the node still serves: after the preflight and db/backup, and before its own drain, which depends on it (so the fetch never races the install, and never adds to the node's time out of rotation).",
  (graph, report) => {
    for (const node of graph.nodes) {
      const prestage = nodeStep(node, "prestage");
      if (!graph.has(prestage)) continue;
      for (const step of PRESTAGE_NEEDS) {
        if (graph.has(step) && !graph.dependsOn(prestage, step)) {
          report(
            `${prestage} does not depend on ${step}: it could run on ${node} before ${step} finished.`,
            prestage,
          );
        }
      }
      const drain = nodeStep(node, "drain");
      if (!graph.has(drain)) {
        report(
          `${node} has ${prestage} but no ${drain}: a prestage exists only to shorten a drained node's time out of rotation.`,
          prestage,
        );
      } else if (graph.dependsOn(prestage, drain)) {
        report(
          `${prestage} depends on ${drain}: it would run with ${node} out of rotation, which it exists to avoid. Make ${drain} depend on ${prestage}.`,
          prestage,
        );
      } else if (!graph.dependsOn(drain, prestage)) {
        report(
          `${drain} does not depend on ${prestage}: ${node} could leave rotation (and be upgraded) while its prestage still runs. Make ${drain} depend on ${prestage}.`,
          drain,
        );
      }
    }
  },
);

export const declaredOrder = defineRule(
  "declared-order",
  "A node's step comes after the same node's steps its kind follows, as plan/stepKinds.ts declares them (stop after drain, the upgrade check after the upgrade, admit after start, bake after admit), whenever the node has them.",
  (graph, report) => {
    for (const node of graph.nodes) {
      for (const kind of nodeStepKinds()) {
        const step = nodeStep(node, kind);
        if (!graph.has(step)) continue;
        for (const first of kindSpec("node", kind).follows ?? []) {
          const earlier = `${node}/${first}`;
          if (graph.has(earlier) && !graph.dependsOn(step, earlier))
            report(
              `${step} does not depend on ${earlier}: ${node}'s ${kind} could run before its ${first}.`,
              step,
            );
        }
      }
    }
  },
);

export const RUNBOOK_RULES: readonly RunbookRule[] = [
  contractAfterEveryAdmission,
  drainAfterPreviousWave,
  upgradeAfterStopAndDrain,
  expandWithNewNodeCode,
  prestageBeforeOwnDrain,
  declaredOrder,
];

/** Every rule's violations, in rule order. */
export function checkRunbook(resources: readonly RunbookResource[]): Violation[] {
  return RUNBOOK_RULES.flatMap((rule) => rule.check(resources));
}
