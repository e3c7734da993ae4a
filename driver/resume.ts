import type { Deployment } from "@pulumi/pulumi/automation";
import type { Plan } from "../plan/plan";
import { kindSpec } from "../plan/stepKinds";
import { dbStep, nodeStep, parseNodeStep } from "../plan/stepIds";
import { finishedSteps, pendingOperations, urnName } from "./state";

/**
 * A node's start (with its health gate), admission and bake are one unit. A failed health gate needs
 * nothing here: it fails the start resource itself, so any rerun starts and gates the node again. A
 * bake that did not pass after the node was admitted does: the node's start and admission run again
 * on resume, so their resources are replaced. Returns the URNs to pass as `replace`.
 */
export function startsToRepeat(deployment: Deployment, release: string, baking = false): string[] {
  if (!baking) return [];
  const done = finishedSteps(deployment, release);
  const repeat: string[] = [];
  for (const step of done.keys()) {
    const admit = parseNodeStep(step);
    if (admit?.kind !== "admit") continue;
    const { node, rollback } = admit;
    if (done.has(nodeStep(node, "bake", rollback))) continue;
    for (const kind of ["start", "admit"] as const) {
      const urn = done.get(nodeStep(node, kind, rollback));
      if (urn) repeat.push(urn);
    }
  }
  return repeat;
}

/** Has db contract finished for this release? Then the old release can no longer run. */
export function contractDone(deployment: Deployment, release: string): boolean {
  return finishedSteps(deployment, release).has(dbStep("contract"));
}

export type ContractProgress = "not-started" | "started" | "finished";

/**
 * How far db contract got for this release, from the state alone, so every machine on the team
 * backend reads the same. A contract that fails or is killed leaves no record of its own (a failed
 * create writes nothing; `recover` clears a killed run's pending operation), and it may have dropped
 * part of the old schema. It is "started" once every step it waits for (`contractAfter`, the plan's)
 * finished, since the run that got there started it next, or while a killed run left it pending.
 */
export function contractProgress(
  deployment: Deployment,
  plan: Pick<Plan, "targetRelease" | "steps">,
): ContractProgress {
  const done = finishedSteps(deployment, plan.targetRelease);
  const contractAfter = plan.steps.find((step) => step.kind === "contract")?.after ?? [];
  const contract = dbStep("contract");
  if (done.has(contract)) return "finished";
  if (pendingOperations(deployment).some((op) => urnName(op.resource.urn) === contract)) return "started";
  return contractAfter.length > 0 && contractAfter.every((id) => done.has(id)) ? "started" : "not-started";
}

/** Nodes whose upgrade step finished for this release, in state order. */
export function upgradedNodes(deployment: Deployment, release: string): string[] {
  return [...finishedSteps(deployment, release).keys()].flatMap((step) => {
    const upgrade = parseNodeStep(step);
    return upgrade?.kind === "upgrade" && !upgrade.rollback ? [upgrade.node] : [];
  });
}

/** What a refusal or a failure says about db contract, for a progress other than "not-started". */
export function contractWords(progress: Exclude<ContractProgress, "not-started">, release: string): string {
  return progress === "finished"
    ? `db contract has run for ${release}`
    : `db contract for ${release} started and did not finish (it failed, or its run was killed), ` +
        "so the schema may be partly contracted";
}

/**
 * Checks a later build added to the chain (kinds declared `passedOnResume`) whose place this state
 * has passed: absent from it for the target release while a step that waits for them finished (a
 * state written by an earlier build, say past db/allow-functions without a config-check). Running
 * such a check now would run it late, after the schema change it guards, and start the resume with
 * a step the run that got there never had; the driver leaves it out for this release instead.
 */
export function passedChecks(deployment: Deployment, plan: Pick<Plan, "targetRelease" | "steps">): string[] {
  const done = finishedSteps(deployment, plan.targetRelease);
  return plan.steps
    .filter(
      (step) =>
        kindSpec(step.scope, step.kind)?.passedOnResume === true &&
        !done.has(step.id) &&
        plan.steps.some((later) => later.after.includes(step.id) && done.has(later.id)),
    )
    .map((step) => step.id);
}
