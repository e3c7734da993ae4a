import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { UpgradeConfig } from "../config";
import { secretExports } from "./scripts";
import { Executor, ScriptStep, ScriptStepArgs } from "./executor";

/**
 * The @pulumi/command executor, the default where Pulumi can install the Command plugin. Over SSH the
 * script runs as given and its secrets come first on stdin (`. /dev/stdin` reads them as exports),
 * because sshd drops a client's environment; locally they are environment variables.
 */
export class CommandExecutor implements Executor {
  readonly kind = "command" as const;

  constructor(
    private readonly config: UpgradeConfig,
    private readonly sshPrivateKey: pulumi.Output<string> | undefined,
  ) {}

  run(args: ScriptStepArgs): ScriptStep {
    const triggers = [this.config.targetRelease, args.node.name, args.kind];
    const opts: pulumi.CustomResourceOptions = { parent: args.parent, dependsOn: args.dependsOn };
    if (args.node.transport === "local") {
      const local = new command.local.Command(
        args.name,
        {
          create: args.script,
          update: args.script,
          interpreter: ["/bin/bash", "-c"],
          environment: args.secrets === undefined ? undefined : pulumi.secret(args.secrets),
          triggers,
        },
        opts,
      );
      return { resource: local, stdout: local.stdout.apply(lastLine) };
    }
    const ssh = this.config.ssh;
    if (!ssh) throw new Error(`node ${args.node.name} uses ssh but the stack has no ssh settings`);
    const script = args.secrets === undefined ? args.script : `set -a; . /dev/stdin; set +a\n${args.script}`;
    const remote = new command.remote.Command(
      args.name,
      {
        connection: {
          host: args.node.address,
          port: args.node.sshPort,
          user: ssh.user,
          privateKey: this.sshPrivateKey,
          dialErrorLimit: 3,
          perDialTimeout: ssh.connectTimeoutSeconds,
        },
        create: script,
        update: script,
        stdin:
          args.secrets === undefined
            ? undefined
            : pulumi.secret(pulumi.output(args.secrets).apply(secretExports)),
        triggers,
      },
      opts,
    );
    return { resource: remote, stdout: remote.stdout.apply(lastLine) };
  }
}

function lastLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n").at(-1) ?? "";
}
