/**
 * Configs the schema accepts but an operator rarely means: each is refused with the key, the value
 * and the fix. Where a site may really mean it, one `acknowledge` key accepts that risk by name; an
 * acknowledgement with nothing to acknowledge is refused too, so none outlives the config it was for.
 */
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";

type Acknowledgement = keyof ParsedStack["acknowledge"];

const RDS_HOST = /\.rds\.amazonaws\.com(\.cn)?$/i;

/** A host that is this machine: nothing between it and the program can read or change the traffic. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function urlHost(url: string): string {
  return /^https?:\/\/(\[[^\]]*\]|[^/:?#]*)/.exec(url)?.[1] ?? "";
}

/** Each risky setting, and the acknowledgement that accepts it; found: the problems when unacknowledged. */
interface Risk {
  ack: Acknowledgement;
  found: (stack: ParsedStack) => string[];
}

const ackFix = (name: Acknowledgement) => `set ${key(["acknowledge", name])}: true`;

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
    found: (stack) => {
      const endpoints: Array<[PropertyKey[], string | undefined, string]> = [
        [
          ["loadBalancer", "endpoint"],
          stack.loadBalancer.type === "alb" ? stack.loadBalancer.endpoint : undefined,
          "the ELBv2 answers the drain and admit decide on",
        ],
        [
          ["backup", "endpoint"],
          stack.backup.type === "rds-snapshot" ? stack.backup.endpoint : undefined,
          "the RDS snapshot requests and answers",
        ],
      ];
      return endpoints.flatMap(([path, url, what]) =>
        url !== undefined && url.startsWith("http://") && !isLoopbackHost(urlHost(url))
          ? [
              `${key(path)} = ${show(url)}: plain http to another host, so ${what} would travel unencrypted and could be changed on the way; use https, or, for an emulator on a network you trust, ${ackFix("awsEndpointOverHttp")}`,
            ]
          : [],
      );
    },
  },
  {
    ack: "runtimeApiOverNetwork",
    found: (stack) => {
      const lb = stack.loadBalancer;
      if (lb.type !== "haproxy") return [];
      const entries = Array.isArray(lb.runtimeApi)
        ? lb.runtimeApi.map((entry, index) => [["loadBalancer", "runtimeApi", index], entry] as const)
        : [[["loadBalancer", "runtimeApi"], lb.runtimeApi] as const];
      return entries.flatMap(([path, entry]) => {
        if (typeof entry !== "string" || entry.startsWith("unix:")) return [];
        const host = entry.slice(0, entry.lastIndexOf(":"));
        if (isLoopbackHost(host)) return [];
        return [
          `${key(path)} = ${show(entry)}: HAProxy's runtime API has no authentication, so a TCP socket on a network address lets anyone who reaches it take servers in and out of rotation, and the drain's answers travel unencrypted; reach it over SSH instead ({ssh: {host: ${show(host)}, user}, socket: /run/haproxy/admin.sock}, with the stack's ssh settings), or, on a management network you trust, ${ackFix("runtimeApiOverNetwork")}`,
        ];
      });
    },
  },
];

/** The risky settings not acknowledged, and every acknowledgement with nothing to acknowledge. */
export function riskProblems(stack: ParsedStack): string[] {
  const problems: string[] = [];
  for (const risk of RISKS) {
    const found = risk.found(stack);
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
