/**
 * An AWS ALB target group as the plan sees it: its `loadBalancer` block, its node key `instanceId`,
 * its checks (target type, region, endpoint), and the step requests of its steps (steps/lb/alb/).
 */
import { z } from "zod";
import type { AlbFleet, AlbTarget } from "../../steps/lb/alb/loadBalancer";
import { port, positiveSeconds, url } from "../config/fields";
import { httpEndpointRisk } from "../config/hosts";
import { key, show } from "../config/problemText";
import type { ParsedStack } from "../config/schema";
import type { ResolvedNode } from "../config/upgradeConfig";
import type { LbKindPlan } from "./kind";
import { rolloutFields } from "./rollout";

export const albSchema = z.strictObject({
  type: z.literal("alb"),
  targetGroupArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]+\/[0-9a-f]+$/,
      "use a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)",
    ),
  port: port.default(9292),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "use an AWS region such as eu-west-1")
    .optional(),
  endpoint: url.optional(),
  /**
   * How long after DeregisterTargets answers the ALB may still send the target a new request: AWS
   * documents no bound (its control plane is eventually consistent), so this is an assumption. A
   * drain ends early (the node idle) only after it.
   */
  propagationSeconds: positiveSeconds(300).default(5),
  ...rolloutFields,
});

export type AlbConfig = z.output<typeof albSchema>;

/** An ALB target registered by its address: an ip target group (parse requires an instance id otherwise). */
const IPV4 = /^[0-9.]+$/;

function instanceIdOf(node: ResolvedNode): string | undefined {
  return typeof node.instanceId === "string" ? node.instanceId : undefined;
}

/** The node's target id: its EC2 instance, or its address in an ip target group. */
function targetIdOf(node: ResolvedNode): string {
  return instanceIdOf(node) ?? node.address;
}

/** Region and endpoint override of an ALB, left out when the config has none. */
function albRegion(lb: AlbConfig): { region?: string; endpoint?: string } {
  return { ...(lb.region ? { region: lb.region } : {}), ...(lb.endpoint ? { endpoint: lb.endpoint } : {}) };
}

/** The region an ELBv2 target group ARN names (arn:aws:elasticloadbalancing:REGION:ACCOUNT:...). */
function arnRegion(arn: string): string {
  return arn.split(":")[3];
}

/** An endpoint override that is one of AWS's own ELBv2 endpoints (public, FIPS or a VPC endpoint). */
function isElbv2AwsEndpoint(endpoint: string): boolean {
  const host = /^https?:\/\/([^/:]+)/.exec(endpoint)?.[1]?.toLowerCase() ?? "";
  return /(^|\.)elasticloadbalancing(-fips)?\./.test(host) && /\.amazonaws\.com(\.cn)?$/.test(host);
}

/** Every node a target: an instance id, or an IPv4 address for an ip target group. */
function targetProblems(nodes: ResolvedNode[]): string[] {
  return nodes.flatMap((node, index) =>
    !instanceIdOf(node) && !IPV4.test(node.address)
      ? [
          `${key(["nodes", index, "instanceId"])}: an ALB target needs the node's EC2 instance id (or an IPv4 address for an ip target group)`,
        ]
      : [],
  );
}

/** A target group holds one target type: instance ids, or IP addresses. */
function targetTypeProblems(stack: ParsedStack, nodes: ResolvedNode[]): string[] {
  const problems: string[] = [];
  const byInstance = nodes.findIndex((node) => instanceIdOf(node) !== undefined);
  nodes.forEach((node, index) => {
    if (byInstance < 0 || instanceIdOf(node) !== undefined || !IPV4.test(node.address)) return;
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

/** The ALB's region against its target group's, and its endpoint against the bake's CloudWatch alarms. */
function identityProblems(lb: AlbConfig, stack: ParsedStack): string[] {
  const problems: string[] = [];
  if (lb.region && lb.region !== arnRegion(lb.targetGroupArn)) {
    problems.push(
      `${key(["loadBalancer", "region"])} = ${show(lb.region)}: loadBalancer.targetGroupArn is in ${arnRegion(lb.targetGroupArn)}, and ELBv2 finds a target group only in its own region; use ${arnRegion(lb.targetGroupArn)}`,
    );
  }
  if (lb.endpoint && stack.bake.alarmNames.length > 0 && isElbv2AwsEndpoint(lb.endpoint)) {
    problems.push(
      `${key(["loadBalancer", "endpoint"])} = ${show(lb.endpoint)}: bake.alarmNames are read from CloudWatch through this endpoint too, and an ELBv2 endpoint cannot answer CloudWatch: remove it (an interface VPC endpoint with private DNS needs no override) or remove bake.alarmNames`,
    );
  }
  return problems;
}

/** An ALB bake watches health and alarms: an error budget would be ignored. */
function bakeProblems(stack: ParsedStack): string[] {
  const { bake } = stack;
  if (bake.errorBudget === 0 || bake.windowSeconds === 0) return [];
  return [
    `${key(["bake", "errorBudget"])} = ${bake.errorBudget}: an ALB bake counts no errors (it watches the target's health and bake.alarmNames), so this budget would be ignored: remove errorBudget, and watch the ALB's 5xx with a CloudWatch alarm in bake.alarmNames`,
  ];
}

// Key order matters: a step's request is part of the step's identity, so a reordered key would
// rerun the step.
export const albKind: LbKindPlan<AlbConfig> = {
  type: "alb",
  schema: albSchema,
  nodeFields: {
    instanceId: {
      schema: z
        .string()
        .regex(/^i-[0-9a-f]{8,17}$/, "use an EC2 instance id such as i-0123456789abcdef0")
        .optional(),
      names: "EC2 instance ids",
    },
  },
  ignoredNodeField: (names) =>
    `which has no ${names}, so it would be ignored: remove it (the ALB target is the node's instanceId, or its address in an ip target group)`,
  resolveNodeFields: (_node, given) => ({ instanceId: given.instanceId }),
  nodeIdentities: (node) => {
    const instance = instanceIdOf(node);
    return instance ? [`instance ${instance}`] : [];
  },
  member: (_lb, node) => targetIdOf(node),
  problems: (lb, stack, nodes) => [
    ...targetProblems(nodes),
    ...targetTypeProblems(stack, nodes),
    ...identityProblems(lb, stack),
    ...bakeProblems(stack),
  ],
  acknowledgements: {},
  risks: (lb) => ({
    awsEndpointOverHttp: httpEndpointRisk(
      ["loadBalancer", "endpoint"],
      lb.endpoint,
      "the ELBv2 answers the drain and admit decide on",
    ),
  }),
  refineIssue: (issue) => issue,
  describe: (lb) => `ALB target group ${lb.targetGroupArn}`,
  target: (lb, _config, node, targetId): AlbTarget => ({
    type: "alb",
    targetGroupArn: lb.targetGroupArn,
    targetId: targetId ?? targetIdOf(node),
    port: lb.port,
    ...albRegion(lb),
  }),
  fleet: (lb, _config, nodes, extraTargetIds): AlbFleet => ({
    type: "alb",
    targetGroupArn: lb.targetGroupArn,
    expected: [...nodes.map(targetIdOf), ...extraTargetIds],
    ...albRegion(lb),
  }),
  secrets: () => [],
  alarmsAt: albRegion,
  provisionedJoin: (lb) => ({ targetGroupArn: lb.targetGroupArn, port: lb.port }),
  drainIdle: (lb) => ({ propagationSeconds: lb.propagationSeconds }),
  bakeBound: (_lb, config) =>
    config.bake.windowSeconds > 0 ? { bakeWindowSeconds: config.bake.windowSeconds } : {},
};
