import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { lastLine } from "../../steps/exec/lastLine";
import { remoteBashCommand, scriptForStdin } from "../../steps/exec/local";
import { redactingPreamble } from "../../steps/exec/redactOnNode";
import { shellQuote } from "../../steps/exec/shellQuote";
import { UpgradeConfig } from "../../plan/config";
import { healthGateScript, secretExports } from "../../steps/node/scripts";
import { Executor, ScriptStep, ScriptStepArgs } from "./executor";
import type { StoredOutcome } from "../../steps/progress";
import { stepIdentity } from "../../plan/identity";
import { canonicalJson } from "../../steps/identity";
import { scriptKindSpec, type ScriptKind } from "../../plan/stepKinds";

/** Markers the wrapped script prints on stderr, so a step reports when it ran as a native step does. */
const STARTED = "gru-step-started";
const ENDED = "gru-step-ended";
const NOW = "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)";

/** The preamble every command step runs first: its start and (on any exit) its end, on stderr. */
export const OUTCOME_PREAMBLE =
  `printf '${STARTED} %s\\n' "${NOW}" >&2\n` + `trap 'printf "${ENDED} %s\\n" "${NOW}" >&2' EXIT\n`;

/**
 * The @pulumi/command executor, for sites that want Pulumi's Command plugin. It honours the same
 * settings as the native executor: the host key each node must present (from the known_hosts file,
 * checked at plan), bash whatever the login shell (the login shell only runs `bash -s`; the script
 * comes on stdin, in a brace group, after its secrets), the step timeout (coreutils `timeout` on the
 * node, and the resource's own timeouts), and the same outcome (start, end, last line of output).
 * Locally the script runs under bash with its secrets as environment variables.
 *
 * Output, as the native runner redacts it: the plugin (1.2.1) logs every line of stdout and stderr,
 * keeps both as plaintext outputs in the state, and puts both in its error when a step fails, whatever
 * `logging` says. So a step with secrets redacts them on the node (steps/exec/redactOnNode.ts), and
 * its stdout and stderr are secret outputs besides.
 */
export class CommandExecutor implements Executor {
  readonly kind = "command" as const;

  constructor(
    private readonly config: UpgradeConfig,
    private readonly sshPrivateKey: pulumi.Output<string> | undefined,
  ) {}

  run(args: ScriptStepArgs): ScriptStep {
    // Kept as they were before step identities, so a state written then shows no change. With an
    // `update` command the plugin updates on a changed trigger rather than replacing.
    const triggers = [this.config.targetRelease, args.node.name, TRIGGER_KIND[args.kind] ?? args.kind];
    // The unit rule (plan/identity.ts): a changed identity replaces the resource, and only a create
    // runs the script. Any other change of its inputs (an edited command, SSH setting or timeout) is
    // an update, which runs `update`: a no-op for the steps that change something, so a finished stop
    // never runs again without its drain. A null trigger (a state from before) never replaces.
    const replacementTrigger = pulumi
      .output(args.unit)
      .apply((unit) => canonicalJson(stepIdentity(this.config, args.name, unit)));
    // A start step's gate runs inside the same bound, so the bound grows by the gate's own timeout.
    const timeoutSeconds =
      this.config.nodeCommands.scriptTimeoutSeconds + (args.healthGate?.timeoutSeconds ?? 0);
    // The engine's own bound, a little past the node's, so the node's `timeout` reports first.
    const limit = `${timeoutSeconds + 60}s`;
    const opts: pulumi.CustomResourceOptions = {
      parent: args.parent,
      dependsOn: args.dependsOn,
      customTimeouts: { create: limit, update: limit },
      replacementTrigger,
      ...(args.secrets === undefined ? {} : { additionalSecretOutputs: ["stdout", "stderr"] }),
    };
    const onUpdate = updateCommand(args.kind);
    const gate = args.healthGate;
    const script: pulumi.Output<string> = gate
      ? pulumi
          .output(gate.url)
          .apply((url) => `${OUTCOME_PREAMBLE}${args.script}${healthGateScript(url, gate.timeoutSeconds)}`)
      : pulumi.output(`${OUTCOME_PREAMBLE}${args.script}`);
    if (args.node.transport === "local") {
      // The names only (not secret), so the command line stays plain text with no value in it.
      const names = pulumi.unsecret(
        pulumi.output(args.secrets ?? {}).apply((secrets) => Object.keys(secrets)),
      );
      const bounded = pulumi
        .all([script, names])
        .apply(
          ([text, secretNames]) =>
            `timeout -k 5 ${timeoutSeconds} bash -c ${shellQuote(`${redactingPreamble(secretNames)}${text}`)}`,
        );
      const local = new command.local.Command(
        args.name,
        {
          create: bounded,
          update: onUpdate ?? bounded,
          interpreter: ["/bin/bash", "-c"],
          environment: args.secrets === undefined ? undefined : pulumi.secret(args.secrets),
          triggers,
        },
        opts,
      );
      return { resource: local, stdout: lastLineOf(local) };
    }
    const ssh = this.config.ssh;
    if (!ssh) throw new Error(`node ${args.node.name} uses ssh but the stack has no ssh settings`);
    const hostKey = ssh.hostKeyPolicy === "insecure" ? undefined : this.config.hostKeys[args.node.name];
    if (ssh.hostKeyPolicy !== "insecure" && hostKey === undefined) {
      // config/commandHostKeys.ts refuses such a config at plan; this guards the graph against a
      // caller that skipped it.
      throw new Error(`node ${args.node.name}: no known host key, and remote.Command would not check one`);
    }
    const remoteCommand = remoteBashCommand(timeoutSeconds);
    const stdin =
      args.secrets === undefined
        ? script.apply((text) => scriptForStdin(text))
        : pulumi.secret(
            pulumi
              .all([script, args.secrets])
              .apply(([text, s]) =>
                scriptForStdin(text, `${secretExports(s)}${redactingPreamble(Object.keys(s))}`),
              ),
          );
    const remote = new command.remote.Command(
      args.name,
      {
        connection: {
          host: args.node.address,
          port: args.node.sshPort,
          user: ssh.user,
          privateKey: this.sshPrivateKey,
          hostKey,
          dialErrorLimit: 3,
          perDialTimeout: ssh.connectTimeoutSeconds,
        },
        create: remoteCommand,
        update: onUpdate ?? remoteCommand,
        stdin,
        triggers,
      },
      opts,
    );
    return { resource: remote, stdout: lastLineOf(remote) };
  }

  /**
   * A Command reports only its output text: its start and end come from the markers its script
   * prints on stderr (OUTCOME_PREAMBLE), its result is its last line, as a native script step's.
   */
  outcomeOf(resource: pulumi.Resource): pulumi.Output<StoredOutcome> | undefined {
    if (!command.local.Command.isInstance(resource) && !command.remote.Command.isInstance(resource))
      return undefined;
    // What the summary reads (the start and end markers, the last line) is plain again: the node
    // redacted it before it left, and a secret here would make the whole summary output secret.
    return pulumi
      .all([pulumi.unsecret(resource.stdout), pulumi.unsecret(resource.stderr)])
      .apply(([stdout, stderr]) => commandOutcome(stdout ?? "", stderr ?? ""));
  }
}

/**
 * The kind a command step's triggers name, as states hold it: db/verify was kind `verify-migrations`
 * until the kinds were named after their ids, and a changed trigger would replace (re-run) the step.
 */
const TRIGGER_KIND: Partial<Record<ScriptKind, string>> = { verify: "verify-migrations" };

/** A Command step's last line of output (plain: the node redacted its secrets before it left). */
function lastLineOf(resource: command.local.Command | command.remote.Command): pulumi.Output<string> {
  return pulumi.unsecret(resource.stdout).apply(lastLine);
}

/**
 * What an update of a command step runs: nothing for a step that changes something; itself for a
 * step that only reads (plan/stepKinds.ts), which keeps its output current.
 */
export function updateCommand(kind: ScriptKind): string | undefined {
  const runs = scriptKindSpec(kind).runs;
  return runs.by === "script" && runs.readOnly ? undefined : UNCHANGED_COMMAND;
}

/** The update of a step that changes something: says so and changes nothing. */
export const UNCHANGED_COMMAND =
  "echo 'unchanged: this step finished in an earlier run; an edit does not run it again'";

/** A command step's outcome, read from its output the way the native step records it. */
export function commandOutcome(stdout: string, stderr: string): StoredOutcome<{ stdout: string }> {
  const { startedAt, endedAt } = markers(stderr);
  return {
    startedAt,
    endedAt,
    seconds: startedAt && endedAt ? (Date.parse(endedAt) - Date.parse(startedAt)) / 1000 : 0,
    result: { stdout: lastLine(stdout) },
  };
}

export function markers(stderr: string): { startedAt: string; endedAt: string } {
  const find = (marker: string) =>
    stderr
      .split("\n")
      .filter((line) => line.startsWith(`${marker} `))
      .at(-1)
      ?.slice(marker.length + 1)
      .trim() ?? "";
  return { startedAt: find(STARTED), endedAt: find(ENDED) };
}
