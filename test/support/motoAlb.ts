/**
 * An ALB in moto server for the AWS step tests: a VPC with two subnets and an internal application
 * load balancer, plus EC2 instances and target groups (each behind its own listener) made on demand.
 */
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import {
  CreateListenerCommand,
  CreateTargetGroupCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ec2Call } from "../../lab/services/alb";
import { createLoadBalancer } from "../../lab/services/albSetup";
import { startMoto } from "../../lab/services/moto";
import { useTestAwsCredentials } from "./albLab";

export const MOTO_REGION = "us-east-1";

export interface MotoAlb {
  /** moto's endpoint, `http://127.0.0.1:P`, for every AWS service. */
  readonly endpoint: string;
  readonly elbv2: ElasticLoadBalancingV2Client;
  /** One EC2 Query API call; returns the XML answer. */
  ec2(action: string, params: Record<string, string>): Promise<string>;
  /** Runs `count` instances in the first subnet and returns their ids. */
  runInstances(count: number): Promise<string[]>;
  /** A fresh target group behind the ALB with `targetIds` registered, named `glance-<n>`; returns its ARN. */
  newTargetGroup(targetIds: string[]): Promise<string>;
  /** Target id -> health state of every target registered in the group. */
  targetStates(targetGroupArn: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** The values of every `<tag>` element in `xml`. */
export function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]+)</${tag}>`, "g"))].map((m) => m[1]);
}

/** Starts moto with the VPC, subnets and ALB; needs AWS credentials in the environment (any value). */
export async function startMotoAlb(): Promise<MotoAlb> {
  const moto = await startMoto();
  const endpoint = moto.endpoint;
  const elbv2 = new ElasticLoadBalancingV2Client({ region: MOTO_REGION, endpoint });
  const stop = async (): Promise<void> => {
    elbv2.destroy();
    await moto.stop();
  };
  const ec2 = (action: string, params: Record<string, string>) => ec2Call(endpoint, action, params);
  try {
    const lb = await createLoadBalancer(endpoint, elbv2, "glance-alb");
    const albArn = lb.loadBalancerArn;
    expect(albArn).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:/);

    let groupCount = 0;
    return {
      endpoint,
      elbv2,
      ec2,
      stop,
      async runInstances(count) {
        const xml = await ec2("RunInstances", {
          ImageId: "ami-12c6146b",
          MinCount: String(count),
          MaxCount: String(count),
          InstanceType: "t3.micro",
          SubnetId: lb.subnetIds[0],
        });
        const ids = xmlValues(xml, "instanceId");
        expect(ids).toHaveLength(count);
        return ids;
      },
      async newTargetGroup(targetIds) {
        groupCount += 1;
        const created = await elbv2.send(
          new CreateTargetGroupCommand({
            Name: `glance-${groupCount}`,
            Protocol: "HTTP",
            Port: 9292,
            VpcId: lb.vpcId,
            TargetType: "instance",
            HealthCheckPath: "/healthcheck",
          }),
        );
        const arn = created.TargetGroups?.[0]?.TargetGroupArn;
        if (!arn) throw new Error("moto returned no target group ARN");
        await elbv2.send(
          new CreateListenerCommand({
            LoadBalancerArn: albArn,
            Protocol: "HTTP",
            Port: 8000 + groupCount,
            DefaultActions: [{ Type: "forward", TargetGroupArn: arn }],
          }),
        );
        if (targetIds.length > 0) {
          await elbv2.send(
            new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targetIds.map((Id) => ({ Id })) }),
          );
        }
        return arn;
      },
      async targetStates(targetGroupArn) {
        const out = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
        return Object.fromEntries(
          (out.TargetHealthDescriptions ?? []).map((d) => [
            d.Target?.Id ?? "?",
            d.TargetHealth?.State ?? "?",
          ]),
        );
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One MotoAlb for the calling test file: started in beforeAll with test credentials in the
 * environment, stopped (and the environment restored) in afterAll. A setup failure (moto not
 * installed, say) fails every test with its message instead of skipping them.
 */
export function motoAlbForThisFile(): MotoAlb {
  let restoreEnv = (): void => undefined;
  let started: MotoAlb | undefined;
  let setupError: unknown;
  const ready = (): MotoAlb => {
    if (setupError) throw setupError;
    if (!started) throw new Error("the moto ALB is used before its beforeAll ran");
    return started;
  };

  beforeAll(async () => {
    try {
      restoreEnv = useTestAwsCredentials();
      started = await startMotoAlb();
    } catch (error) {
      setupError = error;
    }
  }, 60_000);

  beforeEach(() => {
    if (setupError) throw setupError;
  });

  afterAll(async () => {
    await started?.stop();
    restoreEnv();
  });

  return {
    get endpoint() {
      return ready().endpoint;
    },
    get elbv2() {
      return ready().elbv2;
    },
    ec2: (action, params) => ready().ec2(action, params),
    runInstances: (count) => ready().runInstances(count),
    newTargetGroup: (targetIds) => ready().newTargetGroup(targetIds),
    targetStates: (targetGroupArn) => ready().targetStates(targetGroupArn),
    stop: () => ready().stop(),
  };
}
