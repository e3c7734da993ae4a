import * as pulumi from "@pulumi/pulumi";
import { UpgradeConfig } from "../../plan/config";
import type { ScriptKind } from "../../plan/stepKinds";
import type { NodeUnit } from "../../steps/identity";
import type { HostKeyPolicy } from "../../steps/exec/types";
import type { StoredOutcome } from "../../steps/progress";
import { StepResource } from "../../resources/step";

/** Where a node is reached; the address is an Output for a NEW NODE the stack provisions. */
export interface NodeEndpoint {
  name: string;
  address: pulumi.Input<string>;
  transport: "ssh" | "local";
  sshPort: number;
  /**
   * A NEW NODE the stack launched: no known_hosts file can hold its key before it runs, so its key
   * is learned on the first connection. Only its own: every other host keeps ssh.hostKeyPolicy.
   */
  trustOnFirstUse?: boolean;
}

/** The host-key policy for one node: the stack's, except trust on first use for a launched NEW NODE. */
export function hostKeyPolicyFor(node: NodeEndpoint, policy: HostKeyPolicy): HostKeyPolicy {
  return node.trustOnFirstUse && policy === "strict" ? "accept-new" : policy;
}

/** What a start step waits for after its script: the node's health URL answering 200. */
export interface HealthGate {
  url: pulumi.Input<string>;
  timeoutSeconds: number;
}

export interface ScriptStepArgs {
  /** The runbook name, e.g. `node-2/stop`. */
  name: string;
  kind: ScriptKind;
  node: NodeEndpoint;
  /** The node's unit, for the steps of one (plan/identity.ts); absent for the database steps. */
  unit?: pulumi.Input<NodeUnit>;
  script: string;
  /** Secret environment for the script: by environment locally, on stdin over SSH. */
  secrets?: pulumi.Input<Record<string, string>>;
  /** Part of the same resource, so a failed gate is re-run together with its script. */
  healthGate?: HealthGate;
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
  /**
   * When a script step this executor created ran and what it reported, read from the resource's own
   * outputs (steps/progress.ts's StoredOutcome); undefined for a resource it did not create.
   */
  outcomeOf(resource: pulumi.Resource): pulumi.Output<StoredOutcome> | undefined;
}

/** A step resource's own record of its run: its times and its result, as the state holds them. */
export function stepResourceOutcome(step: StepResource): pulumi.Output<StoredOutcome> {
  return pulumi
    .all([step.startedAt, step.endedAt, step.seconds, step.result])
    .apply(([startedAt, endedAt, seconds, result]) => ({
      startedAt: startedAt ?? "",
      endedAt: endedAt ?? "",
      seconds: seconds ?? 0,
      result: result ?? {},
    }));
}
