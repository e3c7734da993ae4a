/**
 * The one entry point the dynamic provider calls: a step request (plain data from the resource's
 * inputs) in, the step's result out. Every typed step and the native executor go through here.
 */
import { StepContext, StepError } from "./context";
import { DbEndpoint } from "./db/connection";
import { privilegePreflight, restoreTrustFunctionCreators, setTrustFunctionCreators } from "./db/privileges";
import { mysqldumpBackup } from "./backup/mysqldump";
import { rdsSnapshotBackup } from "./backup/rdsSnapshot";
import { admitToHaproxy, checkHaproxyFleet, drainFromHaproxy } from "./lb/haproxy/loadBalancer";
import type { RuntimeEndpoint } from "./lb/haproxyEndpoints";
import { albFleetCheck } from "./lb/alb/fleet";
import { albAdmit, albDrain } from "./lb/alb/membership";
import { waitHealthy } from "./health";
import { runScript } from "./exec/run";
import { ScriptRun, SshTarget } from "./exec/types";
import { runPreflight, PreflightRequest } from "./preflight";
import { bakeNode, BakeRequest } from "./bake";

export type LbTarget =
  | { type: "haproxy"; runtimeApis: RuntimeEndpoint[]; backend: string; server: string }
  | {
      type: "alb";
      targetGroupArn: string;
      targetId: string;
      port: number;
      region?: string;
      endpoint?: string;
    };

export type LbFleet =
  | { type: "haproxy"; runtimeApis: RuntimeEndpoint[]; backend: string; expected: string[] }
  | { type: "alb"; targetGroupArn: string; expected: string[]; region?: string; endpoint?: string };

/** A database endpoint without its password (that travels as a secret). */
export type DbRef = Omit<DbEndpoint, "password">;

/** A script run with its SSH target's private key removed (that travels as a secret). */
export type ScriptSpec = Omit<ScriptRun, "secrets" | "ssh"> & { ssh?: Omit<SshTarget, "privateKey"> };

export type StepRequest =
  | { kind: "script"; run: ScriptSpec; healthGate?: { url: string; timeoutSeconds: number } }
  | ({ kind: "preflight" } & PreflightRequest)
  | { kind: "backup-mysqldump"; db: DbRef; path: string }
  | {
      kind: "backup-rds";
      dbInstanceIdentifier: string;
      snapshotIdentifier: string;
      timeoutSeconds: number;
      region?: string;
      endpoint?: string;
    }
  | { kind: "drain"; lb: LbTarget; minHealthy: number; drainTimeoutSeconds: number }
  | { kind: "admit"; lb: LbTarget; healthTimeoutSeconds: number }
  | ({ kind: "bake" } & BakeRequest)
  | { kind: "allow-functions"; db: DbRef; adminUser?: string; rdsParameterGroup?: string }
  | { kind: "fleet-verify"; lb: LbFleet; targetVersion: string; reported: Record<string, string> }
  | { kind: "restore-setting"; db: DbRef; adminUser?: string; previous: boolean; changed: boolean };

/** Secrets a step may need; none of them is ever logged or returned. */
export interface StepSecrets {
  dbPassword?: string;
  dbAdminPassword?: string;
  sshPrivateKey?: string;
  /** Extra secrets for a script (environment locally, stdin over SSH). */
  scriptSecrets?: Record<string, string>;
}

export type StepResult = Record<string, string | number | boolean | string[] | null>;

function endpoint(db: DbRef, password: string | undefined): DbEndpoint {
  if (password === undefined) throw new StepError(`no password configured for database user ${db.user}`);
  return { ...db, password };
}

function adminEndpoint(
  db: DbRef,
  adminUser: string | undefined,
  secrets: StepSecrets,
): DbEndpoint | undefined {
  if (!adminUser) return undefined;
  return endpoint({ ...db, user: adminUser }, secrets.dbAdminPassword);
}

export function scriptRunOf(spec: ScriptSpec, secrets: StepSecrets): ScriptRun {
  return {
    ...spec,
    secrets: secrets.scriptSecrets,
    ssh: spec.ssh ? { ...spec.ssh, privateKey: secrets.sshPrivateKey } : undefined,
  };
}

export async function runStep(
  request: StepRequest,
  secrets: StepSecrets,
  ctx: StepContext,
): Promise<StepResult> {
  switch (request.kind) {
    case "script": {
      const result = await runScript(scriptRunOf(request.run, secrets), ctx);
      const lastLine = result.stdout.trim().split("\n").at(-1) ?? "";
      const ran = { exitCode: result.exitCode, stdout: lastLine, scriptSeconds: result.seconds };
      if (!request.healthGate) return ran;
      const healthy = await waitHealthy(request.healthGate, ctx);
      return { ...ran, healthySeconds: healthy.seconds };
    }
    case "preflight":
      return runPreflight(request, secrets, ctx);
    case "backup-mysqldump": {
      const backup = await mysqldumpBackup(
        { db: endpoint(request.db, secrets.dbPassword), path: request.path },
        ctx,
      );
      return { path: backup.path, bytes: backup.bytes, sha256: backup.sha256 };
    }
    case "backup-rds": {
      const snapshot = await rdsSnapshotBackup(request, ctx);
      return { snapshotArn: snapshot.snapshotArn, snapshotIdentifier: snapshot.snapshotIdentifier };
    }
    case "drain": {
      const lb = request.lb;
      const bounds = { minHealthy: request.minHealthy, drainTimeoutSeconds: request.drainTimeoutSeconds };
      if (lb.type === "haproxy") {
        const drained = await drainFromHaproxy({ ...lb, ...bounds }, secrets.sshPrivateKey, ctx);
        return {
          drainSeconds: drained.drainSeconds,
          alreadyOut: drained.alreadyOut,
          // What the drain had to wait for, and whether it took the server out of rotation.
          sessionsAtStart: drained.sessionsAtStart,
          inRotationAtStart: drained.inRotationAtStart,
        };
      }
      const drained = await albDrain({ ...lb, ...bounds }, ctx);
      return { drainSeconds: drained.drainSeconds, alreadyOut: drained.alreadyOut };
    }
    case "admit": {
      const lb = request.lb;
      const admitted =
        lb.type === "haproxy"
          ? await admitToHaproxy(
              { ...lb, healthTimeoutSeconds: request.healthTimeoutSeconds },
              secrets.sshPrivateKey,
              ctx,
            )
          : await albAdmit({ ...lb, healthTimeoutSeconds: request.healthTimeoutSeconds }, ctx);
      return { admitSeconds: admitted.admitSeconds };
    }
    case "bake": {
      const baked = await bakeNode(request, secrets, ctx);
      return { bakeErrors: baked.errors, bakeSeconds: baked.seconds };
    }
    case "allow-functions": {
      const glance = endpoint(request.db, secrets.dbPassword);
      const admin = adminEndpoint(request.db, request.adminUser, secrets);
      const found = await privilegePreflight(
        {
          glance,
          admin,
          rds: request.rdsParameterGroup ? { parameterGroup: request.rdsParameterGroup } : undefined,
        },
        ctx,
      );
      if (!found.needsSetting || !admin) {
        ctx.log("log_bin_trust_function_creators needs no change");
        return { previous: found.trustFunctionCreators, changed: false };
      }
      const set = await setTrustFunctionCreators({ admin }, ctx);
      return { previous: set.previous, changed: set.changed };
    }
    case "restore-setting": {
      if (!request.changed) {
        ctx.log("log_bin_trust_function_creators was not changed by this upgrade; nothing to restore");
        return { restoredTo: null, changed: false };
      }
      const admin = adminEndpoint(request.db, request.adminUser, secrets);
      if (!admin)
        throw new StepError(
          "log_bin_trust_function_creators was changed but no admin credential is configured to restore it",
        );
      const restored = await restoreTrustFunctionCreators({ admin, previous: request.previous }, ctx);
      return { restoredTo: restored.restoredTo, changed: restored.changed };
    }
    case "fleet-verify": {
      const lb = request.lb;
      const wrong = Object.entries(request.reported).filter(
        ([, version]) => !version.startsWith(request.targetVersion),
      );
      if (wrong.length > 0) {
        throw new StepError(
          `not every node runs ${request.targetVersion}: ${wrong.map(([node, v]) => `${node} reports '${v}'`).join(", ")}; db contract will not run`,
        );
      }
      const members =
        lb.type === "haproxy"
          ? (
              await checkHaproxyFleet(
                { runtimeApis: lb.runtimeApis, backend: lb.backend, expectedServers: lb.expected },
                secrets.sshPrivateKey,
                ctx,
              )
            ).servers
          : (await albFleetCheck({ ...lb, expectedTargetIds: lb.expected }, ctx)).targets;
      ctx.log(`fleet verified: ${members.length} members, all on ${request.targetVersion}`);
      return { members };
    }
  }
}
