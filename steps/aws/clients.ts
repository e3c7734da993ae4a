/**
 * AWS SDK v3 clients for the load-balancer, bake and backup steps. Credentials come from the SDK's standard
 * chain (environment, shared config/SSO, instance or task role), never from step arguments, so they
 * stay out of Pulumi state and argv.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { RDSClient } from "@aws-sdk/client-rds";

export interface AwsTarget {
  /** AWS region; absent: the SDK's own resolution (AWS_REGION, the profile's region). */
  region?: string;
  /** Endpoint override (an emulator such as moto, or a VPC endpoint); absent: the public endpoint. */
  endpoint?: string;
}

/** A hung connection must end in an error the step can report, not a step that never returns. */
const REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 30_000 };

function clientConfig(target: AwsTarget): {
  region?: string;
  endpoint?: string;
  requestHandler: typeof REQUEST_HANDLER;
} {
  if (target.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(target.endpoint)) {
    throw new Error(`AWS endpoint override "${target.endpoint}" is not an http(s) URL: fix the config`);
  }
  return {
    ...(target.region !== undefined ? { region: target.region } : {}),
    ...(target.endpoint !== undefined ? { endpoint: target.endpoint } : {}),
    requestHandler: REQUEST_HANDLER,
  };
}

export function elbv2Client(target: AwsTarget): ElasticLoadBalancingV2Client {
  return new ElasticLoadBalancingV2Client(clientConfig(target));
}

export function cloudWatchClient(target: AwsTarget): CloudWatchClient {
  return new CloudWatchClient(clientConfig(target));
}

export function rdsClient(target: AwsTarget): RDSClient {
  return new RDSClient(clientConfig(target));
}

/** The SDK's error name (e.g. "TargetGroupNotFoundException"), or undefined for a non-error value. */
export function awsErrorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** One line for an operator: the SDK's error name, HTTP status when there was one, and its message. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (error as { code?: string }).code;
  const detail = [
    error.name === "Error" ? undefined : error.name,
    status !== undefined ? `HTTP ${status}` : undefined,
    code,
  ]
    .filter(Boolean)
    .join(", ");
  return `${detail}: ${error.message || "(no message)"}`;
}
