/**
 * What every step shares: the request a step resource carries (plain data the components build and
 * the provider hands to steps/dispatch.ts), the result it returns, and the secrets it may need.
 */
import type { AwsTarget } from "./aws/clients";
import type { DbEndpoint } from "./db/connection";
import type { ScriptRun, SshTarget } from "./exec/types";
import type { FleetOf, LbSecrets, TargetOf } from "./lb/loadBalancer";
import type { BuiltInLoadBalancer } from "./lb/registry";
import type { ResultKind, StepResultByKind } from "./results";

/** One node's place behind the load balancer, in the shape its kind defines. */
export type LbTarget = TargetOf<BuiltInLoadBalancer>;

/** The load balancer's expected membership, in the shape its kind defines. */
export type LbFleet = FleetOf<BuiltInLoadBalancer>;

/** A database endpoint without its password (that travels as a secret). */
export type DbRef = Omit<DbEndpoint, "password">;

/** A script run with its SSH target's private key removed (that travels as a secret). */
export type ScriptSpec = Omit<ScriptRun, "secrets" | "ssh"> & { ssh?: Omit<SshTarget, "privateKey"> };

export interface PreflightRequest {
  db: DbRef;
  /** database.galeraMembers: each member's own address, checked with the Glance user's credentials. */
  galeraMembers?: Array<{ host: string; port: number }>;
  adminUser?: string;
  rdsParameterGroup?: string;
  /** The load balancer with every existing node expected in rotation. */
  lb: LbFleet;
  nodes: Array<{ name: string; healthUrl: string; version: ScriptSpec }>;
  /** The release the run installs: refused when a node already reports a newer version (a downgrade). */
  target: { release: string; version: string };
  /** CloudWatch alarms the bake will watch: they must exist, and none may be in ALARM already. */
  alarms?: AwsTarget & { names: string[] };
}

/** What a bake assumes when its request carries no minHealthy: the config's default. */
export const DEFAULT_BAKE_MIN_HEALTHY = 1;

export interface BakeRequest {
  lb: LbTarget;
  windowSeconds: number;
  errorBudget: number;
  /**
   * CloudWatch alarms that must stay out of ALARM, read in the ALB's region through its endpoint
   * override (with HAProxy: the SDK's default region, e.g. AWS_REGION). Absent or empty: none.
   */
  alarmNames?: string[];
  /**
   * The stack's loadBalancer.minHealthy: a failed bake takes the node out only if that many others
   * stay healthy. Absent: 1, the config's default.
   */
  minHealthy?: number;
  pollIntervalMs?: number;
  alarmPollIntervalMs?: number;
}

export type StepRequest =
  | { kind: "script"; run: ScriptSpec; healthGate?: { url: string; timeoutSeconds: number } }
  | ({ kind: "preflight" } & PreflightRequest)
  | {
      kind: "backup-mysqldump";
      db: DbRef;
      path: string;
      /** backup.timeoutSeconds; absent: DEFAULT_DUMP_TIMEOUT_SECONDS. */
      timeoutSeconds?: number;
    }
  | {
      kind: "backup-rds";
      dbInstanceIdentifier: string;
      snapshotIdentifier: string;
      timeoutSeconds: number;
      region?: string;
      endpoint?: string;
      /**
       * When this upgrade's preflight started (ISO 8601): an existing snapshot taken before it is
       * not this upgrade's backup. Pinned to its first value (ignoreChanges), so a rerun keeps it.
       */
      upgradeStartedAt?: string;
      /** backup.acceptSnapshotCreatedAt: the operator's word that the snapshot taken then will do. */
      acceptSnapshotCreatedAt?: string;
    }
  | {
      kind: "drain";
      lb: LbTarget;
      minHealthy: number;
      drainTimeoutSeconds: number;
      /**
       * ALB: the node's own connections end the drain early (steps/lb/alb/drainEnd.ts): the script
       * prints one line per connection on its traffic port that may carry work.
       */
      idle?: { propagationSeconds: number; connections: ScriptSpec };
      /** After the HTTP drain, the image imports in flight (steps/db/imports.ts). */
      imports?: { db: DbRef; selfUrl: string; timeoutSeconds: number; onTimeout: "halt" | "proceed" };
    }
  | { kind: "admit"; lb: LbTarget; healthTimeoutSeconds: number }
  | ({ kind: "bake" } & BakeRequest)
  | { kind: "allow-functions"; db: DbRef; adminUser?: string; rdsParameterGroup?: string }
  | { kind: "fleet-verify"; lb: LbFleet; targetVersion: string; reported: Record<string, string> }
  | { kind: "restore-setting"; db: DbRef; adminUser?: string; previous: boolean; changed: boolean };

/** Secrets a step may need; none of them is ever logged or returned. */
export interface StepSecrets extends LbSecrets {
  dbPassword?: string;
  dbAdminPassword?: string;
  sshPrivateKey?: string;
  /** Extra secrets for a script (environment locally, stdin over SSH). */
  scriptSecrets?: Record<string, string>;
}

/** What any step returns: one of the kinds' results (steps/results.ts declares each). */
export type StepResult = StepResultByKind[ResultKind];

/**
 * A step's result as a state holds it, written by this version or an older one: read it field by
 * field (steps/results.ts reads a whole one as its kind's type).
 */
export type StoredResult = Readonly<Record<string, unknown>>;
