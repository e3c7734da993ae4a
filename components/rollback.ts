import * as pulumi from "@pulumi/pulumi";
import { StackSecrets } from "../plan/config/read";
import { UpgradeConfig } from "../plan/config";
import { createExecutor } from "./exec";
import { NodeUpgrade } from "./nodeUpgrade";
import { nodeScope } from "../plan/stepIds";
import { rollbackSteps } from "../plan/plan";
import { rollbackNodeCommands } from "../steps/node/scripts";

export interface RollingRollbackArgs {
  config: UpgradeConfig;
  secrets: StackSecrets;
  /** The upgraded nodes to return, in order; each goes only after the previous is back in rotation. */
  nodes: string[];
}

/**
 * Returns upgraded nodes to `rollbackTo`, one at a time, with the same drain and health gates as the
 * upgrade and no database step: valid while the schema is expanded but not contracted, which the
 * old release tolerates. Each node runs the steps of an upgrade wave's release change, in order
 * (`rollbackSteps` in plan/plan.ts, from the kinds plan/stepKinds.ts declares).
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
      nodeCommands: rollbackNodeCommands(args.config.nodeCommands),
    };
    const context = {
      config,
      secrets: args.secrets,
      executor: createExecutor(config, args.secrets.sshPrivateKey),
    };
    const components = new Map<string, NodeUpgrade>();
    const created = new Map<string, pulumi.Resource>();
    for (const step of rollbackSteps(config, args.nodes)) {
      const nodeName = step.node;
      let node = components.get(nodeName);
      if (!node) {
        const resolved = config.nodes.find((n) => n.name === nodeName);
        if (!resolved) throw new Error(`cannot roll back ${nodeName}: it is not in the stack's nodes`);
        node = new NodeUpgrade(
          nodeScope(nodeName, true),
          { context, node: resolved, rollback: true },
          { parent: this },
        );
        components.set(nodeName, node);
      }
      const deps = step.after.map((id) => {
        const dependency = created.get(id);
        if (!dependency)
          throw new Error(`rollback step ${step.id} depends on ${id}, which is not created yet`);
        return dependency;
      });
      created.set(step.id, node.step(step.kind, deps));
      this.steps.push(step.id);
    }
    this.registerOutputs({ nodes: args.nodes, release: target.release });
  }
}
