/**
 * Runs a script on a node through the system OpenSSH client, on the node's multiplexed connection
 * (sshMaster.ts). The script, the environment and the secrets go on stdin (`bash -s`); only the
 * master holds the private key (keyInput.ts). Nothing secret is ever in an argv or a named file.
 */
import { StepError, type StepContext } from "../context";
import { remoteBashCommand, runProcess, scriptForStdin } from "./local";
import { exportLines } from "./shellQuote";
import { validateTarget } from "./ssh";
import { Connection, REMOTE_TIMEOUT_SLACK_SECONDS, sshOptions, withConnection } from "./sshMaster";
import type { OutputSinks, ProcessOutcome, ScriptRun, SshTarget } from "./types";

/** GNU timeout's exit code when it had to stop the command. */
const TIMEOUT_EXIT_CODE = 124;

export async function runSsh(run: ScriptRun, sinks: OutputSinks, ctx: StepContext): Promise<ProcessOutcome> {
  const target = run.ssh;
  if (!target) throw new StepError("transport is ssh but no ssh target is configured");
  validateTarget(target);
  return withConnection(target, ctx, (connection) => runOn(connection, target, run, sinks, ctx));
}

async function runOn(
  connection: Connection,
  target: SshTarget,
  run: ScriptRun,
  sinks: OutputSinks,
  ctx: StepContext,
): Promise<ProcessOutcome> {
  const exports = exportLines({ ...run.env, ...run.secrets });
  // The remote `timeout` stops the remote process group; killing only our client would leave it running.
  const remoteCommand = remoteBashCommand(run.timeoutSeconds);
  const started = Date.now();
  const outcome = await runProcess({
    command: "ssh",
    args: [...sshOptions(target, connection), "--", target.host, remoteCommand],
    env: process.env,
    stdin: scriptForStdin(run.script, exports),
    timeoutMs:
      run.timeoutSeconds === undefined
        ? undefined
        : (run.timeoutSeconds + REMOTE_TIMEOUT_SLACK_SECONDS) * 1000,
    signal: ctx.signal,
    sinks,
  });
  const remoteTimedOut =
    run.timeoutSeconds !== undefined &&
    outcome.exitCode === TIMEOUT_EXIT_CODE &&
    Date.now() - started >= run.timeoutSeconds * 1000;
  return { ...outcome, timedOut: outcome.timedOut || remoteTimedOut };
}
