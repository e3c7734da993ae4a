import * as path from "node:path";
import { DEFAULT_LAB_DIR, DEFAULT_PORTS, HAPROXY_BACKEND, LAB_CREDENTIALS, LabState } from "./state";
import { labNodes } from "./layout";
import { releaseInfo } from "./releases";

/** The parts of a lab a stack config needs. */
export type LabLayout = Pick<
  LabState,
  "dir" | "fromRelease" | "toRelease" | "glanceNodeBin" | "ports" | "upgradeMode"
> & {
  nodes: Array<Pick<LabState["nodes"][number], "name" | "healthUrl"> & { selfUrl?: string }>;
  haproxy: Pick<LabState["haproxy"], "runtimeApi">;
  /** The lab ALB, when the lab has one (`lab up --alb`). */
  alb?: Pick<NonNullable<LabState["alb"]>, "endpoint" | "region" | "targetGroupArn" | "instanceIds" | "port">;
};

/** The bake window of the committed local stack: a few seconds per node, so a rehearsal shows it. */
export const LOCAL_STACK_BAKE_SECONDS = 3;

/**
 * The bake window of the ALB lab's stack (`local-alb`): the least the preflight accepts for the lab
 * ALB's target group (steps/lb/alb/timing.ts unhealthyUpToSeconds: 2 failed checks x 5 s + 2 s check
 * timeout), since the ALB bake fails only once the group reports the target unhealthy.
 */
export const LOCAL_ALB_STACK_BAKE_SECONDS = 12;

/** The default lab's layout, as `lab up` with no options builds it: what Pulumi.local.yaml describes. */
export function defaultLabLayout(nodeCount = 3, fromRelease = "2023.2", toRelease = "2024.1"): LabLayout {
  const dir = DEFAULT_LAB_DIR;
  return {
    dir,
    fromRelease,
    toRelease,
    glanceNodeBin: path.join(dir, "bin", "glance-node"),
    ports: DEFAULT_PORTS,
    // The same layout `lab up` computes, so the committed stack and the lab cannot disagree on a port.
    nodes: labNodes(dir, nodeCount, DEFAULT_PORTS),
    haproxy: { runtimeApi: `unix:${path.join(dir, "haproxy", "admin.sock")}` },
  };
}

export interface LabStackOptions {
  /** How the program reaches the lab nodes: as local commands, or over a loopback sshd. */
  transport: "local" | "ssh";
  ssh?: { port: number; user: string; knownHostsFile: string };
  targetRelease?: string;
  drainTimeoutSeconds?: number;
  healthTimeoutSeconds?: number;
  /** A bake window after each admission (the committed local stack uses a few seconds). */
  bakeSeconds?: number;
  /** Reach MariaDB over TLS, verifying it against this CA file (the lab's own is `lab.db.caFile`). */
  tlsCaFile?: string;
  /**
   * Set `nodeCommands.prestageCommand` (`glance-node ... prestage`): each node's next release is
   * installed ahead, while it serves. Needs a lab in the "wheelhouse" upgrade mode, where there is
   * something to install. Off by default.
   */
  prestage?: boolean;
  /** The load balancer the stack drives: the lab's HAProxy (default) or the lab ALB (needs `lab up --alb`). */
  loadBalancer?: "haproxy" | "alb";
  /**
   * Move every node from the eventlet server to uWSGI with this upgrade (`nodeCommands.serverMove`):
   * its start puts the node under uWSGI, and startCommand (the rollback's start) under eventlet.
   * `glance-node stop` and `status` act on whichever server runs, so both stops are the same.
   */
  serverMove?: boolean;
}

/** The stack config (without secrets) that upgrades a lab: what Pulumi.local.yaml holds for the default lab. */
export function labStackConfig(lab: LabLayout, opts: LabStackOptions): Record<string, unknown> {
  const release = opts.targetRelease ?? lab.toRelease;
  const node = (action: string, ...args: string[]) =>
    [lab.glanceNodeBin, lab.dir, action, '"$GLANCE_NODE"', ...args].join(" ");
  if (opts.prestage === true && lab.upgradeMode !== "wheelhouse") {
    throw new Error(
      `prestage needs a lab in the "wheelhouse" upgrade mode, and the lab at ${lab.dir} is in ` +
        `"${lab.upgradeMode ?? "switch"}" (nothing to install ahead): bring it up with ` +
        `labUp({ upgradeMode: "wheelhouse" }) or "node dist/lab/cli.js up --realistic-upgrade", or drop prestage`,
    );
  }
  const alb = opts.loadBalancer === "alb" ? lab.alb : undefined;
  if (opts.loadBalancer === "alb" && alb === undefined) {
    throw new Error(
      `the stack wants the lab ALB, and the lab at ${lab.dir} has none: bring it up with ` +
        `labUp({ alb: true }) or "node dist/lab/cli.js up --alb"`,
    );
  }
  const rollout = {
    drainTimeoutSeconds: opts.drainTimeoutSeconds ?? 60,
    healthTimeoutSeconds: opts.healthTimeoutSeconds ?? 60,
  };
  return {
    targetRelease: release,
    targetVersion: releaseInfo(release).glanceVersion,
    exec: "native",
    nodes: lab.nodes.map((n, i) => ({
      name: n.name,
      // Over SSH each node is its own loopback host (one lab sshd listens on all of them).
      address: opts.transport === "ssh" ? sshAddress(i) : "127.0.0.1",
      transport: opts.transport,
      healthUrl: n.healthUrl,
      // The lab's Glance names its own HAProxy frontend as worker_self_reference_url (lab/layout.ts).
      ...(n.selfUrl ? { selfReferenceUrl: n.selfUrl } : {}),
      ...(opts.ssh ? { sshPort: opts.ssh.port } : {}),
      ...(alb ? { instanceId: alb.instanceIds[n.name] } : {}),
    })),
    newNode: { existing: lab.nodes[0].name },
    ...(opts.ssh
      ? {
          ssh: {
            user: opts.ssh.user,
            port: opts.ssh.port,
            hostKeyPolicy: "strict",
            knownHostsFile: opts.ssh.knownHostsFile,
          },
        }
      : {}),
    loadBalancer: alb
      ? {
          type: "alb",
          targetGroupArn: alb.targetGroupArn,
          port: alb.port,
          region: alb.region,
          endpoint: alb.endpoint,
          // The lab ALB's propagation lag is about 1 s (lab/services/albDataPlane.ts).
          propagationSeconds: 2,
          ...rollout,
        }
      : { type: "haproxy", runtimeApi: lab.haproxy.runtimeApi, backend: HAPROXY_BACKEND, ...rollout },
    database: {
      host: "127.0.0.1",
      port: lab.ports.mariadb,
      user: LAB_CREDENTIALS.glance.user,
      name: LAB_CREDENTIALS.database,
      adminUser: LAB_CREDENTIALS.admin.user,
      passConnectionToGlanceManage: true,
      ...(opts.tlsCaFile ? { tls: true, caFile: opts.tlsCaFile } : {}),
    },
    backup: { type: "mysqldump", path: path.join(lab.dir, "backups", "glance-before-{release}.sql") },
    ...(opts.bakeSeconds ? { bake: { windowSeconds: opts.bakeSeconds, errorBudget: 0 } } : {}),
    rollbackTo: { release: lab.fromRelease, version: releaseInfo(lab.fromRelease).glanceVersion },
    nodeCommands: {
      stopCommand: node("stop"),
      stoppedCheckCommand: `[ "$(${node("status")})" = stopped ]`,
      upgradeCommand: node("install", '"$GLANCE_TARGET_VERSION"'),
      ...(opts.prestage === true ? { prestageCommand: node("prestage", '"$GLANCE_TARGET_VERSION"') } : {}),
      startCommand:
        opts.serverMove === true ? `${node("server", "eventlet")} && ${node("start")}` : node("start"),
      ...(opts.serverMove === true
        ? {
            serverMove: {
              stopCommand: node("stop"),
              stoppedCheckCommand: `[ "$(${node("status")})" = stopped ]`,
              startCommand: `${node("server", "uwsgi")} && ${node("start")}`,
            },
          }
        : {}),
      versionCommand: node("version"),
      glanceManageCommand: node("manage"),
      glanceStatusCommand: node("glance-status"),
      glancePythonCommand: node("python"),
      // Each lab node listens on its own port, which the health URL names; `ss` would do as well.
      ...(alb ? { connectionsCommand: node("connections") } : {}),
      scriptTimeoutSeconds: 300,
    },
    // The config each node's release starts with (lab/glance/config.ts writes one per release).
    glanceConfig: { files: [path.join(lab.dir, "nodes", "{node}", "{release}", "glance-api.conf")] },
  };
}

/** The lab's secrets, set with `pulumi config set --secret` (lab-only values). */
export const LAB_SECRETS = {
  dbPassword: LAB_CREDENTIALS.glance.password,
  dbAdminPassword: LAB_CREDENTIALS.admin.password,
};

/** The loopback address the lab's sshd answers as node i. */
export function sshAddress(index: number): string {
  return `127.0.0.${index + 1}`;
}
