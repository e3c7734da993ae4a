/**
 * The one entry point the dynamic provider calls: a step request (plain data from the resource's
 * inputs) in, the step's result out. Every typed step and the native executor go through here.
 */
import { StepContext, StepError } from "./context";
import { DbEndpoint } from "./db/connection";
import { waitForImports } from "./db/imports";
import { privilegePreflight, restoreTrustFunctionCreators, setTrustFunctionCreators } from "./db/privileges";
import { mysqldumpBackup } from "./backup/mysqldump";
import { loadBalancerFor } from "./lb/registry";
import type { IdleProbe } from "./lb/loadBalancer";
import { waitHealthy } from "./health";
import { runScript } from "./exec/run";
import { lastLine } from "./exec/lastLine";
import { ScriptRun } from "./exec/types";
import { runPreflight } from "./preflight";
import { bakeNode } from "./bake";
import { versionMatches } from "./version";
import type { DbRef, ScriptSpec, StepRequest, StepResult, StepSecrets, StoredResult } from "./protocol";
import type { DrainResult, ScriptResult, StepResultByKind } from "./results";

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

/** One connections reading may take this long: a hung SSH must not hold the drain past its timeout. */
const PROBE_TIMEOUT_SECONDS = 10;

/**
 * The node's connections, read by running its connections script (quietly: the drain runs it twice a
 * second). A script that fails throws, which the drain counts as not idle.
 */
function idleProbe(
  idle: { propagationSeconds: number; connections: ScriptSpec },
  secrets: StepSecrets,
  ctx: StepContext,
): IdleProbe {
  const quiet: StepContext = { log: () => undefined, ...(ctx.signal ? { signal: ctx.signal } : {}) };
  return {
    propagationSeconds: idle.propagationSeconds,
    async connections() {
      const spec = { ...idle.connections, timeoutSeconds: PROBE_TIMEOUT_SECONDS };
      const result = await runScript(scriptRunOf(spec, { sshPrivateKey: secrets.sshPrivateKey }), quiet);
      return countConnections(result.stdout);
    },
  };
}

/** Connections in a connections command's output: its lines that are not empty. */
export function countConnections(stdout: string): number {
  return stdout.split("\n").filter((line) => line.trim() !== "").length;
}

/** `earlier`: the step's own result from an earlier run for the same release, if any. */
export async function runStep(
  request: StepRequest,
  secrets: StepSecrets,
  ctx: StepContext,
  earlier?: StoredResult,
): Promise<StepResult> {
  switch (request.kind) {
    case "script": {
      const result = await runScript(scriptRunOf(request.run, secrets), ctx);
      const ran = {
        exitCode: result.exitCode,
        stdout: lastLine(result.stdout),
        scriptSeconds: result.seconds,
      } satisfies ScriptResult;
      if (!request.healthGate) return ran;
      const healthy = await waitHealthy(request.healthGate, ctx);
      return { ...ran, healthySeconds: healthy.seconds } satisfies ScriptResult;
    }
    case "preflight":
      return runPreflight(request, secrets, ctx, earlier);
    case "backup-mysqldump": {
      const backup = await mysqldumpBackup(
        {
          db: endpoint(request.db, secrets.dbPassword),
          path: request.path,
          timeoutSeconds: request.timeoutSeconds,
        },
        ctx,
      );
      return {
        path: backup.path,
        bytes: backup.bytes,
        sha256: backup.sha256,
      } satisfies StepResultByKind["backup"];
    }
    case "backup-rds": {
      // Loaded on first use: the AWS SDK costs the provider process 0.2-0.4 s to load.
      const { rdsSnapshotBackup } = await import("./backup/rdsSnapshot");
      const snapshot = await rdsSnapshotBackup(request, ctx);
      return {
        snapshotArn: snapshot.snapshotArn,
        snapshotIdentifier: snapshot.snapshotIdentifier,
      } satisfies StepResultByKind["backup"];
    }
    case "drain": {
      const { lb, minHealthy, drainTimeoutSeconds, imports, idle } = request;
      const bounds = {
        minHealthy,
        drainTimeoutSeconds,
        ...(idle ? { idle: idleProbe(idle, secrets, ctx) } : {}),
      };
      const drained = await loadBalancerFor(lb).drain(lb, bounds, secrets, ctx);
      if (imports === undefined) return { ...drained } satisfies DrainResult;
      // Out of rotation now, so no new import reaches the node through the load balancer.
      const waited = await waitForImports({ ...imports, db: endpoint(imports.db, secrets.dbPassword) }, ctx);
      return {
        ...drained,
        importsWaitedFor: waited.waitedFor,
        importSeconds: waited.seconds,
        importsLeftRunning: waited.leftImporting,
        stagedHere: waited.stagedHere,
      } satisfies DrainResult;
    }
    case "admit": {
      const { lb, healthTimeoutSeconds } = request;
      const admitted = await loadBalancerFor(lb).admit(lb, { healthTimeoutSeconds }, secrets, ctx);
      return { admitSeconds: admitted.admitSeconds } satisfies StepResultByKind["admit"];
    }
    case "bake": {
      const baked = await bakeNode(request, secrets, ctx);
      return { bakeErrors: baked.errors, bakeSeconds: baked.seconds } satisfies StepResultByKind["bake"];
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
        return {
          previous: found.trustFunctionCreators,
          changed: false,
        } satisfies StepResultByKind["allow-functions"];
      }
      const set = await setTrustFunctionCreators({ admin }, ctx);
      return { previous: set.previous, changed: set.changed } satisfies StepResultByKind["allow-functions"];
    }
    case "restore-setting": {
      if (!request.changed) {
        ctx.log("log_bin_trust_function_creators was not changed by this upgrade; nothing to restore");
        return { restoredTo: null, changed: false } satisfies StepResultByKind["restore-setting"];
      }
      const admin = adminEndpoint(request.db, request.adminUser, secrets);
      if (!admin)
        throw new StepError(
          "log_bin_trust_function_creators was changed but no admin credential is configured to restore it",
        );
      const restored = await restoreTrustFunctionCreators({ admin, previous: request.previous }, ctx);
      return {
        restoredTo: restored.restoredTo,
        changed: restored.changed,
      } satisfies StepResultByKind["restore-setting"];
    }
    case "fleet-verify": {
      const wrong = Object.entries(request.reported).filter(
        ([, version]) => !versionMatches(version, request.targetVersion),
      );
      if (wrong.length > 0) {
        throw new StepError(
          `not every node runs ${request.targetVersion}: ${wrong.map(([node, v]) => `${node} reports '${v}'`).join(", ")}; db contract will not run`,
          undefined,
          "VersionMismatch",
        );
      }
      const members = await loadBalancerFor(request.lb).checkFleet(request.lb, secrets, ctx);
      ctx.log(`fleet verified: ${members.length} members, all on ${request.targetVersion}`);
      return { members } satisfies StepResultByKind["fleet-verify"];
    }
  }
}
