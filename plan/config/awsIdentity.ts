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

/**
 * The AWS identifiers of different blocks that must name the same thing: the RDS instance the backup
 * snapshots and the database the upgrade changes (a load balancer's own, e.g. an ALB's region and its
 * target group's, are its kind's checks: plan/lb/alb.ts).
 */
export function awsIdentityProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  const { backup, database } = stack;
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
  return problems;
}
