import * as pulumi from "@pulumi/pulumi";
import { UpgradeContext } from "./context";
import { buildNodeScript, NodeEndpoint, NodeScriptKind, ScriptStep } from "./exec";
import { ResolvedNode } from "./config";
import { lbStepSecrets, lbTargetFor } from "./membership";
import { typedStep } from "./typedStep";
import type { LbTarget } from "../steps/dispatch";

export interface NodeUpgradeArgs {
  context: UpgradeContext;
  node: ResolvedNode;
  /** Prefix of every step name (`rollback/` for a rollback); empty for the upgrade. */
  stepPrefix?: string;
}

/**
 * One node's part of the runbook: drain, graceful stop, upgrade, start, health gate, admit. Each step
 * is created by the rolling upgrade in plan order, with the dependencies the plan gives it.
 */
export class NodeUpgrade extends pulumi.ComponentResource {
  readonly nodeName: string;
  /** Step names start with this: `node-2` or `rollback/node-2`. */
  protected readonly stepName: string;
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
    this.stepName = `${args.stepPrefix ?? ""}${args.node.name}`;
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

  protected healthUrl(): pulumi.Input<string> {
    return this.args.node.healthUrl;
  }

  private script(kind: NodeScriptKind, after: pulumi.Resource[]): ScriptStep {
    const { config, executor } = this.context;
    return executor.run({
      name: `${this.stepName}/${kind}`,
      kind,
      node: this.endpoint,
      script: buildNodeScript(kind, config, this.endpoint),
      parent: this,
      dependsOn: after,
    });
  }

  drain(after: pulumi.Resource[]): pulumi.Resource {
    const lb = this.context.config.loadBalancer;
    return typedStep(
      this.context,
      `${this.stepName}/drain`,
      {
        kind: "drain",
        node: this.nodeName,
        secrets: lbStepSecrets(this.context.config),
        request: pulumi.output(this.lbTarget()).apply((target) => ({
          kind: "drain" as const,
          lb: target,
          minHealthy: lb.minHealthy,
          drainTimeoutSeconds: lb.drainTimeoutSeconds,
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

  start(after: pulumi.Resource[]): pulumi.Resource {
    return this.script("start", after).resource;
  }

  health(after: pulumi.Resource[]): pulumi.Resource {
    const { config } = this.context;
    return typedStep(
      this.context,
      `${this.stepName}/health`,
      {
        kind: "health",
        node: this.nodeName,
        request: pulumi.output(this.healthUrl()).apply((url) => ({
          kind: "health" as const,
          url,
          timeoutSeconds: config.loadBalancer.healthTimeoutSeconds,
        })),
      },
      { parent: this, dependsOn: after },
    );
  }

  admit(after: pulumi.Resource[]): pulumi.Resource {
    const lb = this.context.config.loadBalancer;
    return typedStep(
      this.context,
      `${this.stepName}/admit`,
      {
        kind: "admit",
        node: this.nodeName,
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
    return typedStep(
      this.context,
      `${this.stepName}/bake`,
      {
        kind: "bake",
        node: this.nodeName,
        secrets: lbStepSecrets(this.context.config),
        request: pulumi.output(this.lbTarget()).apply((target) => ({
          kind: "bake" as const,
          lb: target,
          windowSeconds: bake.windowSeconds,
          errorBudget: bake.errorBudget,
          // Left out when empty, so stacks without alarms keep their bake steps' inputs unchanged.
          ...(bake.alarmNames.length > 0 ? { alarmNames: bake.alarmNames } : {}),
        })),
      },
      { parent: this, dependsOn: after },
    );
  }

  version(after: pulumi.Resource[]): ScriptStep {
    return this.script("version", after);
  }
}
