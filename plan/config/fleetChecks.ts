/**
 * Checks of the fleet as a whole: its size against the rollout's limits, every node against the
 * others and against the load balancer in use, and the checkpoint against the number of waves.
 */
import { lbKindOf, lbKinds } from "../lb/registry";
import { wavesAfterNewNodeCount } from "../waves";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { ResolvedNode } from "./upgradeConfig";

/** The nodes the rollout upgrades: the listed ones, plus the NEW NODE when the stack launches it. */
export function fleetSizeOf(stack: ParsedStack, nodes: ResolvedNode[]): number {
  return nodes.length + ("provision" in stack.newNode ? 1 : 0);
}

/** Enough nodes for a rolling upgrade, and maxUnavailable and minHealthy that leave some serving. */
export function fleetSizeProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  const problems: string[] = [];
  const fleetSize = fleetSizeOf(stack, nodes);
  if (fleetSize < 2) {
    problems.push(
      `${key(["nodes"])}: a rolling upgrade needs at least 2 nodes, or 1 node plus a provisioned NEW NODE (newNode.provision); got ${nodes.length}`,
    );
  }
  const lb = stack.loadBalancer;
  if (lb.maxUnavailable >= fleetSize) {
    problems.push(
      `${key(["loadBalancer", "maxUnavailable"])} = ${lb.maxUnavailable}: must be below the fleet size (${fleetSize}); use 1${fleetSize > 2 ? `..${fleetSize - 1}` : ""}`,
    );
  } else if (fleetSize - lb.maxUnavailable < lb.minHealthy) {
    problems.push(
      `${key(["loadBalancer", "minHealthy"])} = ${lb.minHealthy}: with ${fleetSize} nodes and maxUnavailable ${lb.maxUnavailable} at most ${fleetSize - lb.maxUnavailable} stay in rotation; lower minHealthy or maxUnavailable`,
    );
  }
  return problems;
}

/** Each node distinct from the others, reachable, and without settings the load balancer would ignore. */
export function nodeProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  const problems: string[] = [];
  const lb = stack.loadBalancer;
  const kind = lbKindOf(lb);
  // The node keys of the other kinds: the kind in use would ignore them.
  const foreign = lbKinds()
    .filter((other) => other !== kind)
    .flatMap((other) => Object.entries(other.nodeFields));
  const seen = new Map<string, string>();
  nodes.forEach((node, index) => {
    const identities = [`name ${node.name}`, `health URL ${node.healthUrl}`];
    if (node.transport === "ssh") identities.push(`address ${node.address}:${node.sshPort}`);
    identities.push(...kind.nodeIdentities(node));
    for (const identity of identities) {
      const first = seen.get(identity);
      if (first)
        problems.push(
          `${key(["nodes", index])}: duplicate ${identity} (already used by ${first}); each node must be distinct`,
        );
      else seen.set(identity, node.name);
    }
    if (node.transport === "ssh" && !stack.ssh) {
      problems.push(
        `${key(["nodes", index, "transport"])} = "ssh": set ${key(["ssh"])} (user, port, hostKeyPolicy) to reach it`,
      );
    }
    const given = stack.nodes[index];
    // Settings for another load balancer or transport than the one in use would be ignored silently.
    for (const [field, { names }] of foreign) {
      if (given[field] === undefined) continue;
      problems.push(
        `${key(["nodes", index, field])} = ${show(given[field])}: loadBalancer.type is ${lb.type}, ${kind.ignoredNodeField(names)}`,
      );
    }
    if (node.transport === "local" && given.sshPort !== undefined) {
      problems.push(
        `${key(["nodes", index, "sshPort"])} = ${given.sshPort}: ${node.name} uses transport local (its scripts run on this machine, not over SSH), so it would be ignored: remove it or set transport: ssh`,
      );
    }
  });
  return problems;
}

/** The load balancer's own checks of its block and of the nodes behind it (plan/lb/<kind>.ts). */
export function loadBalancerProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  const lb = stack.loadBalancer;
  return lbKindOf(lb).problems(lb, stack, nodes);
}

/** A checkpoint after a wave that exists. */
export function pauseAfterProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  const fleetSize = fleetSizeOf(stack, nodes);
  const waveCount = wavesAfterNewNodeCount(fleetSize, stack.loadBalancer.maxUnavailable);
  // Pausing after the last wave holds db contract, the one step rollback cannot undo, for approval.
  if (typeof stack.pauseAfter === "number" && stack.pauseAfter > waveCount) {
    return [
      `${key(["pauseAfter"])} = ${stack.pauseAfter}: there ${waveCount === 1 ? "is 1 wave" : `are ${waveCount} waves`} after the NEW NODE; pause after "newNode" or a wave from 1 to ${waveCount} (${waveCount}: every node upgraded, before db contract)`,
    ];
  }
  return [];
}
