import { lbKindOf } from "../lb/registry";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { ResolvedNode } from "./upgradeConfig";

/** Each node with its defaults filled in from the stack's ssh and nodeCommands blocks. */
export function resolveNodes(stack: ParsedStack): ResolvedNode[] {
  const kind = lbKindOf(stack.loadBalancer);
  return stack.nodes.map((node) => {
    const resolved: ResolvedNode = {
      name: node.name,
      address: node.address,
      transport: node.transport,
      sshPort: node.sshPort ?? stack.ssh?.port ?? 22,
      healthUrl: healthUrlOf(stack, node),
      selfReferenceUrl: node.selfReferenceUrl ?? originOf(healthUrlOf(stack, node)),
      provisioned: false,
    };
    return { ...resolved, ...kind.resolveNodeFields(resolved, node) };
  });
}

/** `scheme://host:port` of a URL (the schema has checked it is an http(s) URL). */
function originOf(url: string): string {
  return /^https?:\/\/[^/?#]+/.exec(url)?.[0] ?? url;
}

function healthUrlOf(stack: ParsedStack, node: ParsedStack["nodes"][number]): string {
  return (node.healthUrl ?? stack.nodeCommands.healthUrl).replaceAll("{address}", node.address);
}

/** The NEW NODE's name (an existing node, or the one the stack launches), and what is wrong with it. */
export function resolveNewNode(
  stack: ParsedStack,
  nodes: ResolvedNode[],
): { newNodeName: string; problems: string[] } {
  const problems: string[] = [];
  let newNodeName: string;
  if ("existing" in stack.newNode) {
    newNodeName = stack.newNode.existing;
    if (!nodes.some((n) => n.name === newNodeName)) {
      problems.push(
        `${key(["newNode", "existing"])} = ${show(newNodeName)}: no such node; use one of ${nodes.map((n) => n.name).join(", ")}`,
      );
    }
  } else {
    const provision = stack.newNode.provision;
    newNodeName = provision.name;
    if (!provision.ami === !provision.launchTemplateId) {
      problems.push(`${key(["newNode", "provision"])}: set exactly one of 'ami' or 'launchTemplateId'`);
    }
    const lb = stack.loadBalancer;
    if (lbKindOf(lb).provisionedJoin(lb) === undefined) {
      problems.push(
        `${key(["newNode", "provision"])}: a provisioned NEW NODE joins an ALB target group; with loadBalancer.type ${lb.type} use newNode.existing`,
      );
    }
    if (nodes.some((n) => n.name === newNodeName)) {
      problems.push(
        `${key(["newNode", "provision", "name"])} = ${show(newNodeName)}: clashes with an existing node's name`,
      );
    }
  }
  return { newNodeName, problems };
}
