import * as pulumi from "@pulumi/pulumi";
import { StackSecrets } from "./config/read";
import { UpgradeConfig } from "./config";
import { createExecutor } from "./exec";
import { NodeUpgrade } from "./nodeUpgrade";

export interface RollingRollbackArgs {
  config: UpgradeConfig;
  secrets: StackSecrets;
  /** The upgraded nodes to return, in order; each goes only after the previous is back in rotation. */
  nodes: string[];
}

/**
 * Returns upgraded nodes to `rollbackTo`, one at a time, with the same drain and health gates as the
 * upgrade and no database step: valid while the schema is expanded but not contracted, which the
 * old release tolerates.
 */
export class RollingRollback extends pulumi.ComponentResource {
  readonly steps: string[] = [];

  constructor(name: string, args: RollingRollbackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("glance:upgrade:RollingRollback", name, {}, opts);
    const target = args.config.rollbackTo;
    if (!target) throw new Error("rollback needs rollbackTo (release and version) in the stack config");
    const config: UpgradeConfig = {
      ...args.config,
      targetRelease: target.release,
      targetVersion: target.version,
    };
    const context = {
      config,
      secrets: args.secrets,
      executor: createExecutor(config, args.secrets.sshPrivateKey),
    };
    let previous: pulumi.Resource[] = [];
    for (const nodeName of args.nodes) {
      const resolved = config.nodes.find((n) => n.name === nodeName);
      if (!resolved) throw new Error(`cannot roll back ${nodeName}: it is not in the stack's nodes`);
      const node = new NodeUpgrade(
        `rollback/${nodeName}`,
        { context, node: resolved, stepPrefix: "rollback/" },
        { parent: this },
      );
      const drain = node.drain(previous);
      const stop = node.stop([drain]);
      const downgrade = node.upgrade([stop]);
      const start = node.start([downgrade]);
      previous = [node.admit([start])];
      this.steps.push(
        ...["drain", "stop", "upgrade", "start", "admit"].map((k) => `rollback/${nodeName}/${k}`),
      );
    }
    this.registerOutputs({ nodes: args.nodes, release: target.release });
  }
}
