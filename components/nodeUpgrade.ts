import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { buildNodeScript, connectionsScript, HealthGate, NodeEndpoint, scriptSpec, ScriptStep } from "./exec";
import { ResolvedNode } from "../plan/config";
import { dbRef, lbStepSecrets, lbTargetFor } from "./membership";
import { nodeStep, NodeStepKind } from "../plan/stepIds";
import type { ScriptKind } from "../plan/stepKinds";
import { typedStep } from "./typedStep";
import { DEFAULT_BAKE_MIN_HEALTHY, type LbTarget, type ScriptSpec } from "../steps/protocol";
import { lbKindOf } from "../plan/lb/registry";
import type { NodeUnit } from "../steps/identity";
import { nodeUnit } from "../plan/identity";

export interface NodeUpgradeArgs {
  context: UpgradeContext;
  node: ResolvedNode;
  /** The steps are the rollback's (`rollback/node-2/drain`), not the upgrade's (`node-2/drain`). */
  rollback?: boolean;
}

/**
 * One node's part of the runbook: prestage (optional), drain, graceful stop, upgrade, start (with its
 * health gate), admit. Each step is created by the rolling upgrade in plan order, with the
 * dependencies the plan gives it.
 */
export class NodeUpgrade extends pulumi.ComponentResource {
  readonly nodeName: string;
  protected readonly context: UpgradeContext;
  protected endpoint: NodeEndpoint;

  constructor(
    name: string,
    private readonly args: NodeUpgradeArgs,
    opts?: pulumi.ComponentResourceOptions,
    type = "glance:node:NodeUpgrade",
  ) {
    super(type, name, {}, opts);
    this.nodeName = args.node.name;
    this.context = args.context;
    this.endpoint = {
      name: args.node.name,
      address: args.node.address,
      transport: args.node.transport,
      sshPort: args.node.sshPort,
    };
    this.registerOutputs({ node: this.nodeName });
  }

  /** How the executor reaches this node (the NEW NODE's also runs the schema steps). */
  get nodeEndpoint(): NodeEndpoint {
    return this.endpoint;
  }

  /** Where the load balancer finds this node; a provisioned NEW NODE overrides it. */
  protected lbTarget(): pulumi.Input<LbTarget> {
    return lbTargetFor(this.context.config, this.args.node);
  }

  /** What every step of this node's unit carries: a change re-runs the whole unit (plan/identity.ts). */
  protected unit(): pulumi.Input<NodeUnit> {
    return nodeUnit(this.context.config, this.args.node);
  }

  protected healthUrl(): pulumi.Input<string> {
    return this.args.node.healthUrl;
  }

  /** This node's step of that kind: `node-2/drain`, or `rollback/node-2/drain` in a rollback. */
  protected stepId(kind: NodeStepKind): string {
    return nodeStep(this.nodeName, kind, this.args.rollback);
  }

  /**
   * This node's step of a kind the plan chains: the kind's own method below, or, for a kind added to
   * the release change (plan/stepKinds.ts), its script.
   */
  step(kind: NodeStepKind, after: pulumi.Resource[]): pulumi.Resource {
    switch (kind) {
      case "provision":
        throw new Error(`${this.stepId(kind)}: only a provisioned NEW NODE is launched`);
      case "prestage":
        return this.prestage(after);
      case "drain":
        return this.drain(after);
      case "stop":
        return this.stop(after);
      case "upgrade":
        return this.upgrade(after);
      case "upgrade-check":
        return this.upgradeCheck(after);
      case "start":
        return this.start(after);
      case "admit":
        return this.admit(after);
      case "bake":
        return this.bake(after);
      case "version":
        return this.version(after).resource;
      default:
        return this.script(kind, after).resource;
    }
  }

  private script(
    kind: ScriptKind & NodeStepKind,
    after: pulumi.Resource[],
    healthGate?: HealthGate,
  ): ScriptStep {
    const { config, executor } = this.context;
    return executor.run({
      name: this.stepId(kind),
      kind,
      node: this.endpoint,
      unit: this.unit(),
      script: buildNodeScript(kind, config, this.endpoint),
      healthGate,
      parent: this,
      dependsOn: after,
    });
  }

  /**
   * Runs prestageCommand while the node still serves (before its drain, which depends on it), so the
   * node's time out of rotation is stop, switch, start and health only. Built, timed and given its
   * secrets (none) like every node script.
   */
  prestage(after: pulumi.Resource[]): pulumi.Resource {
    return this.script("prestage", after).resource;
  }

  /**
   * For a kind that cannot see the node's work (ALB): the node's own connections end its drain
   * (steps/lb/alb/drainEnd.ts), read with nodeCommands.connectionsCommand over the node's transport.
   */
  private drainIdle(): pulumi.Output<{ propagationSeconds: number; connections: ScriptSpec } | undefined> {
    const config = this.context.config;
    const idle = lbKindOf(config.loadBalancer).drainIdle?.(config.loadBalancer);
    if (idle === undefined) return pulumi.output(undefined);
    return pulumi.all([this.healthUrl(), this.endpoint.address]).apply(([healthUrl, address]) => ({
      propagationSeconds: idle.propagationSeconds,
      connections: scriptSpec(
        config,
        this.endpoint,
        connectionsScript(config, { name: this.nodeName, healthUrl }),
        address,
      ),
    }));
  }

  drain(after: pulumi.Resource[]): pulumi.Resource {
    const lb = this.context.config.loadBalancer;
    const idle = this.drainIdle();
    const overSsh = lbKindOf(lb).drainIdle !== undefined && this.endpoint.transport === "ssh";
    return typedStep(
      this.context,
      this.stepId("drain"),
      {
        kind: "drain",
        node: this.nodeName,
        unit: this.unit(),
        secrets: [
          ...new Set([
            ...lbStepSecrets(this.context.config),
            "dbPassword" as const,
            ...(overSsh ? ["sshPrivateKey" as const] : []),
          ]),
        ],
        request: pulumi.all([this.lbTarget(), idle]).apply(([target, idleProbe]) => ({
          kind: "drain" as const,
          lb: target,
          minHealthy: lb.minHealthy,
          drainTimeoutSeconds: lb.drainTimeoutSeconds,
          ...(idleProbe ? { idle: idleProbe } : {}),
          ...(lb.importDrainTimeoutSeconds > 0
            ? {
                imports: {
                  db: dbRef(this.context.config),
                  selfUrl: this.args.node.selfReferenceUrl,
                  timeoutSeconds: lb.importDrainTimeoutSeconds,
                  onTimeout: lb.onImportTimeout,
                },
              }
            : {}),
        })),
      },
      { parent: this, dependsOn: after },
    );
  }

  stop(after: pulumi.Resource[]): pulumi.Resource {
    return this.script("stop", after).resource;
  }

  upgrade(after: pulumi.Resource[]): pulumi.Resource {
    return this.script("upgrade", after).resource;
  }

  /**
   * Starts the node's services and waits until its health URL answers 200, in one resource: a failed
   * gate leaves no start in the state, so any rerun (the driver's or a plain `pulumi up`) starts the
   * node again and gates it again.
   */
  start(after: pulumi.Resource[]): pulumi.Resource {
    const timeoutSeconds = this.context.config.loadBalancer.healthTimeoutSeconds;
    return this.script("start", after, { url: this.healthUrl(), timeoutSeconds }).resource;
  }

  admit(after: pulumi.Resource[]): pulumi.Resource {
    const lb = this.context.config.loadBalancer;
    return typedStep(
      this.context,
      this.stepId("admit"),
      {
        kind: "admit",
        node: this.nodeName,
        unit: this.unit(),
        secrets: lbStepSecrets(this.context.config),
        request: pulumi.output(this.lbTarget()).apply((target) => ({
          kind: "admit" as const,
          lb: target,
          healthTimeoutSeconds: lb.healthTimeoutSeconds,
        })),
      },
      { parent: this, dependsOn: after },
    );
  }

  /**
   * Watches the admitted node's real traffic (and the named CloudWatch alarms, read in the ALB's
   * region and endpoint) for the bake window before the next wave drains.
   */
  bake(after: pulumi.Resource[]): pulumi.Resource {
    const bake = this.context.config.bake;
    const minHealthy = this.context.config.loadBalancer.minHealthy;
    return typedStep(
      this.context,
      this.stepId("bake"),
      {
        kind: "bake",
        node: this.nodeName,
        unit: this.unit(),
        secrets: lbStepSecrets(this.context.config),
        request: pulumi.output(this.lbTarget()).apply((target) => ({
          kind: "bake" as const,
          lb: target,
          windowSeconds: bake.windowSeconds,
          errorBudget: bake.errorBudget,
          // Left out when empty, so stacks without alarms keep their bake steps' inputs unchanged.
          ...(bake.alarmNames.length > 0 ? { alarmNames: bake.alarmNames } : {}),
          // Left out at the default (1, what the bake assumes when absent), for the same reason.
          ...(minHealthy !== DEFAULT_BAKE_MIN_HEALTHY ? { minHealthy } : {}),
        })),
      },
      { parent: this, dependsOn: after },
    );
  }

  /** Upstream's `glance-status upgrade check`, with the new code, before any schema change. */
  upgradeCheck(after: pulumi.Resource[]): pulumi.Resource {
    return this.script("upgrade-check", after).resource;
  }

  version(after: pulumi.Resource[]): ScriptStep {
    return this.script("version", after);
  }
}
