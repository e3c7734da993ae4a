import type { Deployment } from "@pulumi/pulumi/automation";
import { dbStep, nodeStep, parseNodeStep } from "../plan/stepIds";
import { finishedSteps } from "./state";

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

/** Nodes whose upgrade step finished for this release, in state order. */
export function upgradedNodes(deployment: Deployment, release: string): string[] {
  return [...finishedSteps(deployment, release).keys()].flatMap((step) => {
    const upgrade = parseNodeStep(step);
    return upgrade?.kind === "upgrade" && !upgrade.rollback ? [upgrade.node] : [];
  });
}
