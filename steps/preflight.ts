/**
 * The preflight: every precondition checked before anything is touched. It only reads, and it
 * reports every problem at once, each with what to fix.
 */
import { StepContext, StepError } from "./context";
import { checkConnection } from "./db/connection";
import { describeMember, galeraPreflight } from "./db/galera";
import { memberKey } from "./db/memberTrust";
import { describeImport, importsInFlight, stuckImports } from "./db/imports";
import { privilegePreflight } from "./db/privileges";
import { TRUST_BEFORE_KEY, trustBefore } from "./db/trustRecord";
import { loadBalancerFor } from "./lb/registry";
import { waitHealthy } from "./health";
import { runScript } from "./exec/run";
import { jumpRefusal, knownReleasesText, releaseNamed, releaseOfVersion } from "./releases";
import { isDowngrade, parseVersion } from "./version";
import { readLoadBalancerSettings } from "./lbSettings";
import type { PreflightRequest, StepSecrets, StoredResult } from "./protocol";
import type { PreflightResult } from "./results";

const NODE_HEALTH_TIMEOUT_SECONDS = 5;

async function check(problems: string[], what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * `earlier` is this step's result from an earlier run for the same release (a re-run after an edit):
 * the value of log_bin_trust_function_creators recorded then is kept, not replaced by today's read.
 */
export async function runPreflight(
  request: PreflightRequest,
  secrets: StepSecrets,
  ctx: StepContext,
  earlier?: StoredResult,
): Promise<PreflightResult> {
  const problems: string[] = [];
  const result: Omit<PreflightResult, "versionsBefore"> = {};
  const password = secrets.dbPassword ?? "";
  await check(problems, "database", async () => {
    const glance = { ...request.db, password };
    const { serverVersion } = await checkConnection(glance, ctx);
    // Not a problem (they do not block the upgrade, and the drains do not wait for them), but an
    // operator should know: Glance breaks their lock only after 60 minutes.
    try {
      const stuck = stuckImports(await importsInFlight(glance));
      if (stuck.length > 0) {
        ctx.log(
          `WARNING: ${stuck.length} image(s) stuck in 'importing': ${stuck.map(describeImport).join("; ")}`,
        );
        result.stuckImports = stuck.map(describeImport);
      }
    } catch (error) {
      // A database without Glance's tables yet has no imports; the checks below judge the database.
      ctx.log(`could not read the image imports (${error instanceof Error ? error.message : String(error)})`);
    }
    const admin = request.adminUser
      ? { ...request.db, user: request.adminUser, password: secrets.dbAdminPassword ?? "" }
      : undefined;
    const privileges = await privilegePreflight(
      {
        glance,
        admin,
        rds: request.rdsParameterGroup ? { parameterGroup: request.rdsParameterGroup } : undefined,
      },
      ctx,
    );
    const before = trustBefore(privileges.trustFunctionCreators, earlier);
    if (before !== privileges.trustFunctionCreators)
      ctx.log(
        `log_bin_trust_function_creators reads ${privileges.trustFunctionCreators ? 1 : 0} now; ` +
          `kept ${before ? 1 : 0}, recorded by this release's first preflight, as the value to restore`,
      );
    Object.assign(result, {
      dbServerVersion: serverVersion,
      binlogEnabled: privileges.binlogEnabled,
      trustFunctionCreators: privileges.trustFunctionCreators,
      [TRUST_BEFORE_KEY]: before,
      glanceHasSuper: privileges.glanceHasSuper,
    } satisfies Omit<PreflightResult, "versionsBefore">);
  });
  const galeraMembers = request.galeraMembers;
  if (galeraMembers !== undefined && galeraMembers.length > 0) {
    await check(problems, "Galera cluster", async () => {
      const readings = await galeraPreflight(
        galeraMembers.map((m) => ({ ...request.db, host: m.host, port: m.port, password })),
        ctx,
      );
      result.galeraMembersBefore = readings.map(describeMember);
      // Each member's own value, kept from this release's first preflight like the single one (I7).
      const kept = earlier?.trustBeforeByMember;
      const keptOf = (key: string): unknown =>
        typeof kept === "object" && kept !== null ? (kept as Record<string, unknown>)[key] : undefined;
      result.trustBeforeByMember = Object.fromEntries(
        galeraMembers.map((m, i) => {
          const key = memberKey(m);
          const first = keptOf(key);
          return [key, typeof first === "boolean" ? first : readings[i]?.trust === true];
        }),
      );
    });
  }
  await check(problems, "load balancer", async () => {
    await loadBalancerFor(request.lb).checkFleet(request.lb, secrets, ctx);
  });
  await check(problems, "load balancer settings", async () => {
    const reading = await readLoadBalancerSettings(request.lb, request.rollout, ctx, secrets);
    if (reading === undefined) return;
    for (const note of reading.notes) ctx.log(note);
    ctx.log(`expected per node: drain ${reading.drain.text}; admit ${reading.admit.text}`);
    problems.push(...reading.problems.map((problem) => `load balancer settings: ${problem}`));
    Object.assign(result, {
      loadBalancerSettings: reading.settings,
      expectedDrainSeconds: reading.drain.upToSeconds,
      expectedAdmitSeconds: reading.admit.upToSeconds,
    } satisfies Partial<PreflightResult>);
  });
  const alarms = request.alarms;
  if (alarms && alarms.names.length > 0) {
    await check(problems, "bake alarms", async () => {
      // Loaded here, only with alarms: the AWS SDK costs the provider process 0.2-0.4 s to load.
      const { openAlarmWatch } = await import("./aws/alarms");
      const watch = await openAlarmWatch({ ...alarms, alarmNames: alarms.names }, ctx);
      try {
        const firing = await watch.check(true);
        if (firing)
          throw new StepError(
            `CloudWatch alarm ${firing.name} is in ALARM (${firing.reason}): the fleet is not healthy`,
          );
      } finally {
        watch.close();
      }
    });
  }
  const versions: Record<string, string> = {};
  for (const node of request.nodes) {
    await check(problems, `node ${node.name} health`, async () => {
      await waitHealthy({ url: node.healthUrl, timeoutSeconds: NODE_HEALTH_TIMEOUT_SECONDS }, ctx);
    });
    await check(problems, `node ${node.name} release`, async () => {
      const run = await runScript(
        {
          ...node.version,
          ssh: node.version.ssh ? { ...node.version.ssh, privateKey: secrets.sshPrivateKey } : undefined,
        },
        ctx,
      );
      const version = run.stdout.trim().split("\n").at(-1)?.trim() ?? "";
      if (!version)
        throw new StepError("its versionCommand printed nothing; fix nodeCommands.versionCommand");
      versions[node.name] = version;
    });
  }
  const downgrade = downgradeProblem(request.target, versions);
  if (downgrade) problems.push(downgrade);
  problems.push(...releaseJumpProblems(request.target, versions));
  if (problems.length > 0) {
    throw new StepError(
      `preflight found ${problems.length} problem(s); nothing was changed:\n  - ${problems.join("\n  - ")}`,
      undefined,
      "PreflightFailed",
    );
  }
  ctx.log(
    `preflight passed: ${Object.entries(versions)
      .map(([n, v]) => `${n}=${v}`)
      .join(", ")}`,
  );
  return { ...result, versionsBefore: versions };
}

/**
 * `up` installs the target on every node, drain by drain: with a target older than what a node runs,
 * it would take that node back to the old release and then fail at db expand on the newer schema,
 * leaving it out of rotation. Going back is `rollback`'s job (before db contract) or a restore.
 */
export function downgradeProblem(
  target: PreflightRequest["target"],
  versions: Record<string, string>,
): string | undefined {
  const newer = Object.entries(versions).filter(([, reported]) => isDowngrade(target.version, reported));
  if (newer.length === 0) return undefined;
  const reports = newer.map(([node, reported]) => `${node} reports ${reported}`).join(", ");
  return (
    `downgrade refused: targetVersion ${target.version} (targetRelease ${target.release}) is older than what ${reports}, ` +
    "and up only upgrades (it would reinstall the older release on each drained node, then fail at db expand on the newer schema). " +
    "To go back: set targetRelease and targetVersion back to the release the nodes run, " +
    `set rollbackTo to {release: ${target.release}, version: ${target.version}} and run the driver's \`rollback\` ` +
    "(refused once db contract has run for the newer release); after contract, restore the pre-upgrade backup instead (README: When an upgrade fails)"
  );
}

/**
 * The jump from the release each node reports to the target must be one OpenStack supports
 * (steps/releases.ts): the config check sees it only when rollbackTo names the release the fleet
 * runs. A version that cannot be read is not judged (as for the downgrade); one of a Glance major
 * version this program does not know is refused, since nothing can be said about the jump.
 */
export function releaseJumpProblems(
  target: PreflightRequest["target"],
  versions: Record<string, string>,
): string[] {
  const to = releaseNamed(target.release) ?? releaseOfVersion(target.version);
  if (!to) return [];
  const problems: string[] = [];
  for (const [node, reported] of Object.entries(versions)) {
    if (parseVersion(reported) === undefined) continue;
    const from = releaseOfVersion(reported);
    if (!from) {
      problems.push(
        `${node} reports ${reported}, a Glance release this program does not know (${knownReleasesText()}), ` +
          `so the jump to ${to.release} cannot be judged: upgrade that node to a listed release first`,
      );
      continue;
    }
    const refusal = jumpRefusal(from, to);
    if (refusal) problems.push(`${node} reports ${reported} (${from.release}): ${refusal}`);
  }
  return problems;
}
