import type { NodeUnit, StepIdentity } from "../steps/identity";
import { dbStep, parseStepId } from "./stepIds";
import { ResolvedNode, UpgradeConfig } from "./config";
import { lbKindOf } from "./lb/registry";

/**
 * The unit rule (README, "What a rerun does"): a step runs again only when its identity changes.
 * - Every step belongs to the upgrade to `targetRelease` / `targetVersion`: a new one replays the
 *   whole chain in order. The backup belongs to the release only: it is never retaken within one.
 * - A node's steps (prestage, drain, stop, upgrade, upgrade-check, config-check, start, admit, bake, version; the
 *   provision of a launched NEW NODE) also carry the node's unit: the machine, its load-balancer
 *   member, its transport and the executor. They are all equal within a unit, so a change re-runs
 *   the whole unit from its first step, never a part of it.
 * - Nothing else is identity. Commands, timeouts, thresholds, credentials, TLS settings and the
 *   backup's destination apply to the steps that have yet to run (a failed step is one: it has no
 *   state, so the rerun creates it with the edited config); they never re-run a finished step.
 */
export function stepIdentity(config: UpgradeConfig, step: string, unit?: NodeUnit): StepIdentity {
  const release = config.targetRelease;
  if (step === dbStep("backup")) return { release };
  const parsed = parseStepId(step);
  const identity: StepIdentity = { release, version: config.targetVersion };
  if (parsed?.scope !== "node") return identity;
  if (!unit) throw new Error(`step ${step} is a node step and needs its node's unit`);
  return { ...identity, unit };
}

/** The unit of a node the stack names (a launched NEW NODE's unit is built from its instance). */
export function nodeUnit(config: UpgradeConfig, node: ResolvedNode): NodeUnit {
  return {
    node: node.name,
    address: node.address,
    member: lbKindOf(config.loadBalancer).member(config.loadBalancer, node),
    transport: node.transport,
    exec: config.exec,
  };
}
