/**
 * Checks of the fleet as a whole: its size against the rollout's limits, every node against the
 * others and against the load balancer in use, and the checkpoint against the number of waves.
 */
import { wavesAfterNewNodeCount } from "../waves";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { ResolvedNode } from "./upgradeConfig";

/** An ALB target registered by its address: an ip target group (parse requires an instance id otherwise). */
const IPV4 = /^[0-9.]+$/;

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
  const seen = new Map<string, string>();
  nodes.forEach((node, index) => {
    const identities = [`name ${node.name}`, `health URL ${node.healthUrl}`];
    if (node.transport === "ssh") identities.push(`address ${node.address}:${node.sshPort}`);
    if (node.instanceId) identities.push(`instance ${node.instanceId}`);
    if (lb.type === "haproxy") identities.push(`HAProxy server ${node.haproxyServer}`);
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
    if (lb.type === "alb" && !node.instanceId && !IPV4.test(node.address)) {
      problems.push(
        `${key(["nodes", index, "instanceId"])}: an ALB target needs the node's EC2 instance id (or an IPv4 address for an ip target group)`,
      );
    }
    const given = stack.nodes[index];
    // Settings for another load balancer or transport than the one in use would be ignored silently.
    if (lb.type === "alb" && given.haproxyServer !== undefined) {
      problems.push(
        `${key(["nodes", index, "haproxyServer"])} = ${show(given.haproxyServer)}: loadBalancer.type is alb, which has no HAProxy servers, so it would be ignored: remove it (the ALB target is the node's instanceId, or its address in an ip target group)`,
      );
    }
    if (lb.type === "haproxy" && given.instanceId !== undefined) {
      problems.push(
        `${key(["nodes", index, "instanceId"])} = ${show(given.instanceId)}: loadBalancer.type is haproxy, which knows the node by its server name (haproxyServer, default the node name), so it would be ignored: remove it`,
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

/** A target group holds one target type: instance ids, or IP addresses. */
export function albTargetTypeProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  if (stack.loadBalancer.type !== "alb") return [];
  const problems: string[] = [];
  const byInstance = nodes.findIndex((node) => node.instanceId !== undefined);
  nodes.forEach((node, index) => {
    if (byInstance < 0 || node.instanceId !== undefined || !IPV4.test(node.address)) return;
    problems.push(
      `${key(["nodes", index, "instanceId"])} = (not set): ${node.name} would be registered by its IP address and ${nodes[byInstance].name} by its instance id (nodes[${byInstance}].instanceId), but a target group holds one target type: set instanceId on every node (an instance target group) or on none (an ip target group)`,
    );
  });
  if ("provision" in stack.newNode && byInstance < 0 && nodes.some((node) => IPV4.test(node.address))) {
    problems.push(
      `${key(["newNode", "provision"])}: the stack joins the NEW NODE to the target group by its instance id, but the nodes are registered by IP address (no instanceId), and an ip target group refuses an instance: set every node's instanceId (an instance target group) or use newNode.existing`,
    );
  }
  return problems;
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
