import type { Deployment } from "@pulumi/pulumi/automation";

interface StateResource {
  urn: string;
  outputs?: { release?: string; step?: string };
}

function stepsAt(deployment: Deployment, release: string): Map<string, string> {
  const resources = ((deployment.deployment as { resources?: StateResource[] }).resources ??
    []) as StateResource[];
  const steps = new Map<string, string>();
  for (const resource of resources) {
    const step = resource.outputs?.step;
    if (step && resource.outputs?.release === release) steps.set(step, resource.urn);
  }
  return steps;
}

/**
 * A node's start (with its health gate), admission and bake are one unit. A failed health gate needs
 * nothing here: it fails the start resource itself, so any rerun starts and gates the node again. A
 * bake that did not pass after the node was admitted does: the node's start and admission run again
 * on resume, so their resources are replaced. Returns the URNs to pass as `replace`.
 */
export function startsToRepeat(deployment: Deployment, release: string, baking = false): string[] {
  if (!baking) return [];
  const done = stepsAt(deployment, release);
  const repeat: string[] = [];
  for (const step of done.keys()) {
    if (!step.endsWith("/admit")) continue;
    const node = step.slice(0, -"/admit".length);
    if (done.has(`${node}/bake`)) continue;
    for (const kind of ["start", "admit"]) {
      const urn = done.get(`${node}/${kind}`);
      if (urn) repeat.push(urn);
    }
  }
  return repeat;
}

/** Has db contract finished for this release? Then the old release can no longer run. */
export function contractDone(deployment: Deployment, release: string): boolean {
  return stepsAt(deployment, release).has("db/contract");
}

/** Nodes whose upgrade step finished for this release, in state order. */
export function upgradedNodes(deployment: Deployment, release: string): string[] {
  return [...stepsAt(deployment, release).keys()]
    .filter((step) => step.endsWith("/upgrade") && !step.startsWith("rollback/"))
    .map((step) => step.slice(0, -"/upgrade".length));
}
