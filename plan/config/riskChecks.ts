/**
 * Configs the schema accepts but an operator rarely means: each is refused with the key, the value
 * and the fix. Where a site may really mean it, one `acknowledge` key accepts that risk by name; an
 * acknowledgement with nothing to acknowledge is refused too, so none outlives the config it was for.
 */
import { lbKindOf, lbKinds } from "../lb/registry";
import { httpEndpointRisk } from "./hosts";
import { ackFix, key, show } from "./problemText";
import { ParsedStack } from "./schema";

type Acknowledgement = keyof ParsedStack["acknowledge"] & string;

const RDS_HOST = /\.rds\.amazonaws\.com(\.cn)?$/i;

/** Each risky setting, and the acknowledgement that accepts it; found: the problems when unacknowledged. */
interface Risk {
  ack: Acknowledgement;
  found: (stack: ParsedStack) => string[];
}

const RISKS: Risk[] = [
  {
    ack: "minHealthyZero",
    found: (stack) =>
      stack.loadBalancer.minHealthy === 0
        ? [
            `${key(["loadBalancer", "minHealthy"])} = 0: a drain may then take the last healthy node out of rotation, an outage while the upgrade runs; use at least 1, or, if the fleet may go dark (a maintenance window), ${ackFix("minHealthyZero")}`,
          ]
        : [],
  },
  {
    ack: "databaseWithoutTls",
    found: (stack) => {
      const db = stack.database;
      const rds =
        RDS_HOST.test(db.host) || stack.backup.type === "rds-snapshot" || db.rdsParameterGroup !== undefined;
      if (!rds || db.tls) return [];
      return [
        `${key(["database", "tls"])} = false with database.host ${show(db.host)}, an RDS database reached over the network: every query, its answers and the mysqldump backup would travel unencrypted, and nothing would check the server is the database; set database.tls: true (with caFile: the RDS CA bundle), or, where the network is trusted, ${ackFix("databaseWithoutTls")}`,
      ];
    },
  },
  {
    ack: "awsEndpointOverHttp",
    found: (stack) =>
      stack.backup.type === "rds-snapshot"
        ? httpEndpointRisk(
            ["backup", "endpoint"],
            stack.backup.endpoint,
            "the RDS snapshot requests and answers",
          )
        : [],
  },
];

/** The risky settings not acknowledged, and every acknowledgement with nothing to acknowledge. */
export function riskProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  const lb = stack.loadBalancer;
  // The load balancer's own risks join the ones of the same name (plan/lb/kind.ts).
  const ofKind = lbKindOf(lb).risks(lb, stack);
  // Every kind's own acknowledgements: one of a kind not in use has nothing to acknowledge.
  const kindRisks = lbKinds().flatMap((kind) =>
    Object.keys(kind.acknowledgements).map((ack): Risk => ({ ack, found: () => [] })),
  );
  for (const risk of [...RISKS, ...kindRisks]) {
    const found = [...(ofKind[risk.ack] ?? []), ...risk.found(stack)];
    const acknowledged = stack.acknowledge[risk.ack] === true;
    if (found.length > 0 && !acknowledged) problems.push(...found);
    if (found.length === 0 && acknowledged) {
      problems.push(
        `${key(["acknowledge", risk.ack])} = true: nothing in this config needs it, so it would silently accept the risk for a later edit; remove it`,
      );
    }
  }
  return problems;
}

/**
 * A mysqldump path without {release} is the same file for every upgrade: the next upgrade's backup
 * (taken after this one's contract) replaces the only copy of the schema before this one.
 */
export function backupPathProblems(stack: ParsedStack): string[] {
  const backup = stack.backup;
  if (backup.type !== "mysqldump" || backup.path.includes("{release}")) return [];
  const dot = backup.path.lastIndexOf(".");
  const slash = backup.path.lastIndexOf("/");
  const example =
    dot > slash
      ? `${backup.path.slice(0, dot)}-before-{release}${backup.path.slice(dot)}`
      : `${backup.path}-before-{release}`;
  return [
    `${key(["backup", "path"])} = ${show(backup.path)}: without {release}, the next upgrade's backup overwrites this one, the only copy of the database before this upgrade; write it with {release}, e.g. ${example}`,
  ];
}
