import * as pulumi from "@pulumi/pulumi";
import { UpgradeConfig } from "../config";
import { NodeScriptKind } from "./scripts";

/** Where a node is reached; the address is an Output for a NEW NODE the stack provisions. */
export interface NodeEndpoint {
  name: string;
  address: pulumi.Input<string>;
  transport: "ssh" | "local";
  sshPort: number;
}

export interface ScriptStepArgs {
  /** The runbook name, e.g. `node-2/stop`. */
  name: string;
  kind: NodeScriptKind;
  node: NodeEndpoint;
  script: string;
  /** Secret environment for the script: by environment locally, on stdin over SSH. */
  secrets?: pulumi.Input<Record<string, string>>;
  parent: pulumi.Resource;
  dependsOn: pulumi.Resource[];
}

export interface ScriptStep {
  resource: pulumi.Resource;
  /** The script's last line of output (e.g. the version a node reports). */
  stdout: pulumi.Output<string>;
}

/** Runs node scripts as resources; `native` and `command` build the same graph with the same names. */
export interface Executor {
  readonly kind: UpgradeConfig["exec"];
  run(args: ScriptStepArgs): ScriptStep;
}
