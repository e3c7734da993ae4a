import * as pulumi from "@pulumi/pulumi";
import type { NodeUnit } from "../steps/identity";
import type * as aws from "@pulumi/aws";
import { UpgradeContext } from "./context";
import { ResolvedNode } from "../plan/config";
import { lbProvisionedJoin, lbTargetFor } from "./membership";
import { NodeUpgrade } from "./nodeUpgrade";
import { nodeStep } from "../plan/stepIds";
import type { LbTarget } from "../steps/protocol";

/**
 * @pulumi/aws, loaded only when a NEW NODE is provisioned: it takes ~0.2-0.5 s to load, which every
 * driver run (and every preview) would otherwise pay before the engine starts.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const awsSdk = (): typeof aws => require("@pulumi/aws") as typeof aws;

export interface ProvisionedNodeArgs {
  context: UpgradeContext;
  /** The steps the instance waits for (the database backup). */
  after: pulumi.Resource[];
}

/**
 * A NEW NODE the stack provisions: an EC2 instance joined to the ALB target group once its health
 * gate passes. Both are kept on delete: the stack owns them, but no destroy takes a serving node away.
 */
export class ProvisionedNode extends NodeUpgrade {
  readonly instance: aws.ec2.Instance;
  readonly instanceId: pulumi.Output<string>;
  private readonly node: ResolvedNode;

  constructor(name: string, args: ProvisionedNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config } = args.context;
    if (!("provision" in config.newNode))
      throw new Error("ProvisionedNode needs newNode.provision in the stack config");
    const provision = config.newNode.provision;
    const sshPort = config.ssh?.port ?? 22;
    const node: ResolvedNode = {
      name: provision.name,
      address: "",
      transport: "ssh",
      sshPort,
      healthUrl: config.nodeCommands.healthUrl,
      // Never drained (it joins the fleet during the upgrade), so its imports are never waited for.
      selfReferenceUrl: "",
      provisioned: true,
    };
    super(name, { context: args.context, node }, opts, "glance:node:NewNode");
    this.node = node;
    this.instance = new (awsSdk().ec2.Instance)(
      nodeStep(provision.name, "provision"),
      {
        ami: provision.ami,
        launchTemplate: provision.launchTemplateId ? { id: provision.launchTemplateId } : undefined,
        instanceType: provision.instanceType,
        subnetId: provision.subnetId,
        vpcSecurityGroupIds: provision.securityGroupIds,
        keyName: provision.keyName,
        tags: { Name: provision.name, "glance:release": config.targetRelease, ...provision.tags },
      },
      // Launched once: an edit of how to launch one never replaces a NEW NODE that may already serve
      // (it would run only the launch of a unit; plan/identity.ts). To launch another, see the README.
      { parent: this, dependsOn: args.after, retainOnDelete: true, ignoreChanges: [...LAUNCH_INPUTS] },
    );
    this.instanceId = this.instance.id;
    this.endpoint = {
      name: provision.name,
      address: this.instance.privateIp,
      transport: "ssh",
      sshPort,
      trustOnFirstUse: true,
    };
  }

  protected override lbTarget(): pulumi.Input<LbTarget> {
    lbProvisionedJoin(this.context.config);
    return this.instance.id.apply((targetId) => lbTargetFor(this.context.config, this.node, targetId));
  }

  /** The launched instance is the machine: a replaced instance re-runs the whole unit on the new one. */
  protected override unit(): pulumi.Input<NodeUnit> {
    const { config } = this.context;
    return pulumi.all([this.instance.id, this.instance.privateIp]).apply(([instanceId, address]) => ({
      node: this.nodeName,
      address,
      member: instanceId,
      transport: "ssh" as const,
      exec: config.exec,
    }));
  }

  protected override healthUrl(): pulumi.Input<string> {
    return this.instance.privateIp.apply((ip) =>
      this.context.config.nodeCommands.healthUrl.replaceAll("{address}", ip),
    );
  }

  /** Joins the target group (an attachment the stack keeps), then waits until the ALB sees it healthy. */
  override admit(after: pulumi.Resource[]): pulumi.Resource {
    const lb = lbProvisionedJoin(this.context.config);
    const attachment = new (awsSdk().lb.TargetGroupAttachment)(
      `${this.nodeName}/attach`,
      { targetGroupArn: lb.targetGroupArn, targetId: this.instance.id, port: lb.port },
      // Joined once: moving it to another group is no step of an upgrade.
      { parent: this, dependsOn: after, retainOnDelete: true, ignoreChanges: ["targetGroupArn", "port"] },
    );
    return super.admit([attachment]);
  }
}

/** Every input of the NEW NODE's instance: none of them is changed on an instance already launched. */
export const LAUNCH_INPUTS = [
  "ami",
  "launchTemplate",
  "instanceType",
  "subnetId",
  "vpcSecurityGroupIds",
  "keyName",
  "tags",
] as const;
