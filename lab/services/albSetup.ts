/**
 * What an ALB in moto is built from, through the EC2 Query API and the ELBv2 SDK: a VPC with two
 * subnets and an internal application load balancer, and a target group behind a listener of its
 * own. `lab up --alb` (lab/labAlb.ts), the lab ALB's test harness and the moto ALB of the AWS step
 * tests all build theirs here.
 */
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ec2Call, LAB_ALB_REGION } from "./alb";
import { findFreePort } from "./ports";

/** The first `<tag>` value in moto's XML answer; throws if it has none. */
export function firstXmlValue(xml: string, tag: string): string {
  const value = new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(xml)?.[1];
  if (value === undefined) throw new Error(`no <${tag}> in moto's answer: ${xml.slice(0, 300)}`);
  return value;
}

export interface MotoLoadBalancer {
  vpcId: string;
  /** In zones a and b; instances go in the first. */
  subnetIds: string[];
  loadBalancerArn: string;
}

/** A VPC (10.0.0.0/16), two subnets and an internal application load balancer named `name`. */
export async function createLoadBalancer(
  motoEndpoint: string,
  elbv2: ElasticLoadBalancingV2Client,
  name: string,
): Promise<MotoLoadBalancer> {
  const ec2 = (action: string, params: Record<string, string>) => ec2Call(motoEndpoint, action, params);
  const vpcId = firstXmlValue(await ec2("CreateVpc", { CidrBlock: "10.0.0.0/16" }), "vpcId");
  const subnetIds: string[] = [];
  for (const [cidr, az] of [
    ["10.0.1.0/24", `${LAB_ALB_REGION}a`],
    ["10.0.2.0/24", `${LAB_ALB_REGION}b`],
  ]) {
    const xml = await ec2("CreateSubnet", { VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: az });
    subnetIds.push(firstXmlValue(xml, "subnetId"));
  }
  const lb = await elbv2.send(
    new CreateLoadBalancerCommand({
      Name: name,
      Subnets: subnetIds,
      Type: "application",
      Scheme: "internal",
    }),
  );
  return { vpcId, subnetIds, loadBalancerArn: lb.LoadBalancers?.[0]?.LoadBalancerArn ?? "" };
}

export interface GroupSpec {
  name: string;
  targetType: "instance" | "ip";
  healthCheckPath: string;
  /** Absent: moto's default (`traffic-port`). */
  healthCheckPort?: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  matcher: string;
  /** Target group attributes to set after creating it (`deregistration_delay.timeout_seconds`, ...). */
  attributes: Record<string, number>;
}

/** An HTTP target group for port 9292 in the VPC, and a listener on a free loopback port forwarding to it. */
export async function createGroupWithListener(
  elbv2: ElasticLoadBalancingV2Client,
  lb: MotoLoadBalancer,
  spec: GroupSpec,
): Promise<{ targetGroupArn: string; listenerPort: number }> {
  const created = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: spec.name,
      Protocol: "HTTP",
      Port: 9292,
      VpcId: lb.vpcId,
      TargetType: spec.targetType,
      HealthCheckPath: spec.healthCheckPath,
      HealthCheckPort: spec.healthCheckPort,
      HealthCheckIntervalSeconds: spec.intervalSeconds,
      HealthCheckTimeoutSeconds: spec.timeoutSeconds,
      HealthyThresholdCount: spec.healthyThreshold,
      UnhealthyThresholdCount: spec.unhealthyThreshold,
      Matcher: { HttpCode: spec.matcher },
    }),
  );
  const targetGroupArn = created.TargetGroups?.[0]?.TargetGroupArn ?? "";
  await elbv2.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: targetGroupArn,
      Attributes: Object.entries(spec.attributes).map(([Key, value]) => ({ Key, Value: String(value) })),
    }),
  );
  const listenerPort = await findFreePort();
  await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: lb.loadBalancerArn,
      Protocol: "HTTP",
      Port: listenerPort,
      DefaultActions: [{ Type: "forward", TargetGroupArn: targetGroupArn }],
    }),
  );
  return { targetGroupArn, listenerPort };
}
