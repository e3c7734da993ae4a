import { key, show } from "./problemText";
import { ParsedStack } from "./schema";

/**
 * What an RDS endpoint host name says: its region, and for a DB instance endpoint
 * (`<instance>.<hash>.<region>.rds.amazonaws.com`) the instance. Cluster (`<name>.cluster-<hash>...`)
 * and proxy (`<name>.proxy-<hash>...`) endpoints name no instance. Undefined for any other host (a
 * CNAME of the endpoint, an IP address, a tunnel), which says nothing.
 */
function rdsEndpointOf(host: string): { region: string; instance?: string } | undefined {
  const match = /^(.+)\.([a-z]{2}(?:-[a-z]+)+-\d)\.rds\.amazonaws\.com(?:\.cn)?$/.exec(host.toLowerCase());
  if (!match) return undefined;
  const labels = match[1].split(".");
  const isInstance = labels.length === 2 && /^[a-z0-9]+$/.test(labels[1]);
  return { region: match[2], ...(isInstance ? { instance: labels[0] } : {}) };
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

/**
 * The AWS identifiers of different blocks that must name the same thing: the RDS instance the backup
 * snapshots and the database the upgrade changes; the ALB's region and its target group's; and the
 * endpoint the bake's CloudWatch alarms are read through, which is the ALB's.
 */
export function awsIdentityProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  const { backup, database, loadBalancer: lb } = stack;
  const rds = rdsEndpointOf(database.host);
  if (backup.type === "rds-snapshot" && rds) {
    if (rds.instance && backup.dbInstanceIdentifier.toLowerCase() !== rds.instance) {
      problems.push(
        `${key(["backup", "dbInstanceIdentifier"])} = ${show(backup.dbInstanceIdentifier)}: database.host ${database.host} is the endpoint of DB instance "${rds.instance}", so the snapshot would be of another database than the one upgraded; use ${rds.instance}`,
      );
    }
    if (backup.region && backup.region !== rds.region) {
      problems.push(
        `${key(["backup", "region"])} = ${show(backup.region)}: database.host ${database.host} is in ${rds.region}, and RDS snapshots an instance only in its own region; use ${rds.region}`,
      );
    }
  }
  if (lb.type === "alb" && lb.region && lb.region !== arnRegion(lb.targetGroupArn)) {
    problems.push(
      `${key(["loadBalancer", "region"])} = ${show(lb.region)}: loadBalancer.targetGroupArn is in ${arnRegion(lb.targetGroupArn)}, and ELBv2 finds a target group only in its own region; use ${arnRegion(lb.targetGroupArn)}`,
    );
  }
  if (
    lb.type === "alb" &&
    lb.endpoint &&
    stack.bake.alarmNames.length > 0 &&
    isElbv2AwsEndpoint(lb.endpoint)
  ) {
    problems.push(
      `${key(["loadBalancer", "endpoint"])} = ${show(lb.endpoint)}: bake.alarmNames are read from CloudWatch through this endpoint too, and an ELBv2 endpoint cannot answer CloudWatch: remove it (an interface VPC endpoint with private DNS needs no override) or remove bake.alarmNames`,
    );
  }
  return problems;
}
