import * as pulumi from "@pulumi/pulumi";
import { UpgradeConfig } from "../../plan/config";
import { StepResource } from "../../resources/step";
import type { ScriptSpec } from "../../steps/protocol";
import type { StoredOutcome } from "../../steps/progress";
import {
  Executor,
  hostKeyPolicyFor,
  NodeEndpoint,
  ScriptStep,
  ScriptStepArgs,
  stepResourceOutcome,
} from "./executor";
import { stepIdentity } from "../../plan/identity";
import { isResultKind, readAs } from "../../steps/results";

/** The ScriptSpec the native runner receives for a node (no secrets: those travel separately). */
export function scriptSpec(
  config: UpgradeConfig,
  node: NodeEndpoint,
  script: string,
  address: string,
): ScriptSpec {
  const timeoutSeconds = config.nodeCommands.scriptTimeoutSeconds;
  if (node.transport === "local") return { transport: "local", script, timeoutSeconds };
  const ssh = config.ssh;
  if (!ssh) throw new Error(`node ${node.name} uses ssh but the stack has no ssh settings`);
  return {
    transport: "ssh",
    script,
    timeoutSeconds,
    ssh: {
      host: address,
      port: node.sshPort,
      user: ssh.user,
      hostKeyPolicy: hostKeyPolicyFor(node, ssh.hostKeyPolicy),
      knownHostsFile: ssh.knownHostsFile,
      connectTimeoutSeconds: ssh.connectTimeoutSeconds,
    },
  };
}

/** The project's own executor: a dynamic resource running the script with OpenSSH or locally. */
export class NativeExecutor implements Executor {
  readonly kind = "native" as const;

  constructor(
    private readonly config: UpgradeConfig,
    private readonly sshPrivateKey: pulumi.Output<string> | undefined,
  ) {}

  run(args: ScriptStepArgs): ScriptStep {
    const step = new StepResource(
      args.name,
      {
        step: args.name,
        kind: args.kind,
        node: args.node.name,
        release: this.config.targetRelease,
        identity: pulumi.output(args.unit).apply((unit) => stepIdentity(this.config, args.name, unit)),
        request: pulumi.all([args.node.address, args.healthGate?.url]).apply(([address, healthUrl]) => ({
          kind: "script" as const,
          run: scriptSpec(this.config, args.node, args.script, address),
          ...(args.healthGate && healthUrl !== undefined
            ? { healthGate: { url: healthUrl, timeoutSeconds: args.healthGate.timeoutSeconds } }
            : {}),
        })),
        secrets: pulumi.all([this.sshPrivateKey, args.secrets]).apply(([sshPrivateKey, scriptSecrets]) => ({
          ...(sshPrivateKey === undefined ? {} : { sshPrivateKey }),
          ...(scriptSecrets === undefined ? {} : { scriptSecrets }),
        })),
      },
      { parent: args.parent, dependsOn: args.dependsOn },
    );
    return { resource: step, stdout: step.result.apply((r) => scriptStdout(args.kind, r)) };
  }

  /** Its script steps are the project's own step resources, which carry their outcome. */
  outcomeOf(resource: pulumi.Resource): pulumi.Output<StoredOutcome> | undefined {
    return resource instanceof StepResource ? stepResourceOutcome(resource) : undefined;
  }
}

/** A script step's last line of output, as its typed result reads it ("" for a kind without one). */
function scriptStdout(kind: string, raw: unknown): string {
  if (!isResultKind(kind))
    return typeof raw === "object" && raw !== null && "stdout" in raw ? String(raw.stdout) : "";
  const read: Record<string, unknown> = readAs(kind, raw);
  return typeof read.stdout === "string" ? read.stdout : "";
}
