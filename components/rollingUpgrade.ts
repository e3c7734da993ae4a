import * as pulumi from "@pulumi/pulumi";
import { StackSecrets } from "../plan/config/read";
import { UpgradeConfig } from "../plan/config";
import { UpgradeContext } from "./context";
import { createExecutor } from "./exec";
import { stepResourceOutcome } from "./exec/executor";
import { StepResource } from "../resources/step";
import type { StoredOutcome } from "../steps/progress";
import { buildPlan, Plan, PlanStep, renderRunbook, stepsToRun } from "../plan/plan";
import { FLEET_VERIFY_STEP } from "../plan/stepIds";
import { Preflight } from "./preflight";
import { DatabaseBackup } from "./databaseBackup";
import { DbMigration, galeraMembersOf } from "./dbMigration";
import { NodeUpgrade } from "./nodeUpgrade";
import { ProvisionedNode } from "./newNode";
import { dbRef, lbFleet, lbStepSecrets } from "./membership";
import { typedStep } from "./typedStep";

export interface RollingUpgradeArgs {
  config: UpgradeConfig;
  secrets: StackSecrets;
  /** Checks whose place a resumed state has passed: left out of this run (plan.ts, `stepsToRun`). */
  passed?: readonly string[];
}

/**
 * The whole runbook as one component: it walks the pure plan and creates each step with exactly the
 * dependencies the plan gives it, so the engine's order is the plan's order.
 */
export class RollingUpgrade extends pulumi.ComponentResource {
  readonly plan: Plan;
  readonly runbook: string;
  /** Every step's resource, by runbook name. */
  readonly steps: ReadonlyMap<string, pulumi.Resource>;
  /** What each step did, by step id: its times and its result (driver/summary.ts reads it). */
  readonly summary: pulumi.Output<Record<string, StoredOutcome>>;

  constructor(name: string, args: RollingUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("glance:upgrade:RollingUpgrade", name, {}, opts);
    const { config, secrets } = args;
    const context: UpgradeContext = {
      config,
      secrets,
      executor: createExecutor(config, secrets.sshPrivateKey),
    };
    this.plan = buildPlan(config);
    this.runbook = renderRunbook(this.plan);

    const created = new Map<string, pulumi.Resource>();
    const nodes = new Map<string, NodeUpgrade>();
    const versions: Record<string, pulumi.Output<string>> = {};
    let provisioned: ProvisionedNode | undefined;
    let db: DbMigration | undefined;
    let preflight: Preflight | undefined;
    const after = (step: PlanStep) =>
      step.after.map((id) => {
        const dependency = created.get(id);
        if (!dependency) throw new Error(`plan step ${step.id} depends on ${id}, which is not created yet`);
        return dependency;
      });
    const nodeOf = (nodeName: string): NodeUpgrade => {
      let node = nodes.get(nodeName);
      if (!node) {
        const resolved = config.nodes.find((n) => n.name === nodeName);
        if (!resolved) throw new Error(`plan names an unknown node ${nodeName}`);
        node = new NodeUpgrade(nodeName, { context, node: resolved }, { parent: this });
        nodes.set(nodeName, node);
      }
      return node;
    };
    const dbOf = (): DbMigration => {
      if (!db) {
        const newNode = provisioned ?? nodeOf(config.newNodeName);
        if (!preflight) throw new Error("the plan creates the database steps before the preflight");
        db = new DbMigration(
          "db",
          { context, newNode: newNode.nodeEndpoint, preflight: preflight.step.result },
          { parent: this },
        );
      }
      return db;
    };

    for (const step of stepsToRun(this.plan, args.passed)) {
      const deps = after(step);
      const nodeName = step.node ?? "";
      let resource: pulumi.Resource;
      switch (step.kind) {
        case "preflight":
          preflight = new Preflight("preflight", { context, after: deps }, { parent: this });
          resource = preflight.step;
          break;
        case "backup":
          resource = new DatabaseBackup(
            "backup",
            { context, after: deps, upgradeStartedAt: preflight?.step.startedAt },
            { parent: this },
          ).step;
          break;
        case "provision":
          provisioned = new ProvisionedNode(nodeName, { context, after: deps }, { parent: this });
          nodes.set(nodeName, provisioned);
          resource = provisioned.instance;
          break;
        case "upgrade-check":
          resource = nodeOf(nodeName).upgradeCheck(deps);
          break;
        case "version": {
          const reported = nodeOf(nodeName).version(deps);
          versions[nodeName] = reported.stdout;
          resource = reported.resource;
          break;
        }
        case "allow-functions":
          resource = dbOf().allowFunctions(deps);
          break;
        case "expand":
        case "migrate":
        case "contract":
          resource = dbOf().manage(step.kind, deps);
          break;
        case "restore-setting":
          resource = dbOf().restoreSetting(deps);
          break;
        case "verify":
          resource =
            step.scope === "db"
              ? dbOf().manage("verify", deps)
              : this.fleetVerify(context, versions, provisioned, deps);
          break;
        default:
          // drain, stop, upgrade, start, admit, bake, prestage, and any kind added to the release change.
          resource = nodeOf(nodeName).step(step.kind, deps);
      }
      created.set(step.id, resource);
    }

    this.steps = created;
    this.summary = pulumi.all(
      Object.fromEntries(
        [...created].map(([id, resource]) => [
          id,
          (resource instanceof StepResource
            ? stepResourceOutcome(resource)
            : context.executor.outcomeOf(resource)) ??
            // A resource of the stack that is no step (a NEW NODE's instance): it has no run to show.
            pulumi.output({ startedAt: "", endedAt: "", seconds: 0, result: {} }),
        ]),
      ),
    );
    this.registerOutputs({ plan: this.plan, summary: this.summary, database: dbRef(config).host });
  }

  /** fleet/verify: every node reports the target version, the load balancer holds only upgraded nodes. */
  private fleetVerify(
    context: UpgradeContext,
    versions: Record<string, pulumi.Output<string>>,
    provisioned: ProvisionedNode | undefined,
    deps: pulumi.Resource[],
  ): pulumi.Resource {
    const { config } = context;
    const { galeraMembers } = galeraMembersOf(config);
    const adminUser = config.database.adminUser;
    const recheck = galeraMembers && adminUser ? { db: dbRef(config), adminUser, galeraMembers } : undefined;
    return typedStep(
      context,
      FLEET_VERIFY_STEP,
      {
        kind: "verify",
        // With Galera and an admin user it also re-checks the setting on every member before contract.
        secrets: recheck
          ? [...lbStepSecrets(config), "dbPassword", "dbAdminPassword"]
          : lbStepSecrets(config),
        request: pulumi
          .all([pulumi.all(versions), provisioned ? provisioned.instanceId : undefined])
          .apply(([reported, provisionedTarget]) => ({
            kind: "fleet-verify" as const,
            lb: lbFleet(config, config.nodes, provisionedTarget ? [provisionedTarget] : []),
            targetVersion: config.targetVersion,
            reported,
            ...(recheck ? { trustRecheck: recheck } : {}),
          })),
      },
      { parent: this, dependsOn: deps },
    );
  }
}
