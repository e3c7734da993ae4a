/**
 * Reads an ALB target group's settings through the AWS SDK (DescribeTargetGroups and
 * DescribeTargetGroupAttributes), in the shape steps/lb/alb/timing.ts judges. Only reads.
 */
import {
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  TargetGroup,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { StepError } from "../../context";
import { AwsTarget, elbv2Client } from "../../aws/clients";
import { awsCall } from "./targetGroup";
import type { TargetGroupSettings } from "./timing";

/** AWS's defaults, for an attribute a target group does not list. */
const DEFAULT_DELAY_SECONDS = 300;
const DEFAULT_SLOW_START_SECONDS = 0;

function numberOf(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new StepError(`the target group's ${what} reads "${value}", not a number of seconds`);
  return n;
}

function required<T>(value: T | undefined, what: string, arn: string): T {
  if (value === undefined)
    throw new StepError(`DescribeTargetGroups gave no ${what} for ${arn}; nothing was changed`);
  return value;
}

/** The settings out of DescribeTargetGroups' answer and the group's attributes. */
export function settingsOf(
  group: TargetGroup,
  attributes: ReadonlyArray<{ Key?: string; Value?: string }>,
): TargetGroupSettings {
  const arn = group.TargetGroupArn ?? "?";
  const attribute = (key: string): string | undefined => attributes.find((a) => a.Key === key)?.Value;
  return {
    targetGroupArn: arn,
    targetType: group.TargetType ?? "instance",
    deregistrationDelaySeconds: numberOf(
      attribute("deregistration_delay.timeout_seconds"),
      DEFAULT_DELAY_SECONDS,
      "deregistration_delay.timeout_seconds",
    ),
    slowStartSeconds: numberOf(
      attribute("slow_start.duration_seconds"),
      DEFAULT_SLOW_START_SECONDS,
      "slow_start.duration_seconds",
    ),
    healthCheck: {
      protocol: group.HealthCheckProtocol ?? "HTTP",
      path: group.HealthCheckPath ?? "/",
      port: group.HealthCheckPort ?? "traffic-port",
      matcher: group.Matcher?.HttpCode ?? group.Matcher?.GrpcCode ?? "200",
      intervalSeconds: required(group.HealthCheckIntervalSeconds, "HealthCheckIntervalSeconds", arn),
      timeoutSeconds: required(group.HealthCheckTimeoutSeconds, "HealthCheckTimeoutSeconds", arn),
      healthyThreshold: required(group.HealthyThresholdCount, "HealthyThresholdCount", arn),
      unhealthyThreshold: required(group.UnhealthyThresholdCount, "UnhealthyThresholdCount", arn),
    },
  };
}

/** The target group's settings as AWS reports them now. */
export async function readTargetGroupSettings(
  args: AwsTarget & { targetGroupArn: string },
): Promise<TargetGroupSettings> {
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  try {
    const groups = await awsCall("DescribeTargetGroups", tg, "Nothing was changed", undefined, () =>
      client.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [tg] })),
    );
    const group = groups.TargetGroups?.find((g) => g.TargetGroupArn === tg);
    if (group === undefined)
      throw new StepError(`DescribeTargetGroups does not list ${tg}; nothing was changed`);
    const attributes = await awsCall(
      "DescribeTargetGroupAttributes",
      tg,
      "Nothing was changed",
      undefined,
      () => client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg })),
    );
    return settingsOf(group, attributes.Attributes ?? []);
  } finally {
    client.destroy();
  }
}
