/**
 * Runs a node script locally or over ssh, streams its output to the step log with secrets redacted,
 * and turns any non-OK ending into an operator-facing StepError carrying the output's tail.
 */
import * as os from "node:os";
import { StepError, type StepContext } from "../context";
import { runLocal } from "./local";
import { classifySshFailure, sshLabel } from "./ssh";
import { runSsh } from "./sshRun";
import type { OutputSinks, ProcessOutcome, ScriptResult, ScriptRun } from "./types";

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const TAIL_LINES = 20;
/** Bytes of each stream kept for the result; the log gets everything. */
const MAX_CAPTURED_CHARS = 4 * 1024 * 1024;
export const REDACTED = "[secret]";
/** Lines of a multi-line secret (a PEM key) shorter than this are too common to redact on their own. */
const MIN_REDACTED_FRAGMENT = 8;
const SSH_CLIENT_ERROR_EXIT = 255;

export async function runScript(run: ScriptRun, ctx: StepContext): Promise<ScriptResult> {
  validateRun(run);
  const where = run.transport === "ssh" && run.ssh ? sshLabel(run.ssh) : "this machine";
  const output = new RedactedOutput(redactor(Object.values(run.secrets ?? {})), ctx.log);
  const okExitCodes = run.okExitCodes ?? [0];
  const started = performance.now();
  ctx.log(`running script on ${where}`);

  let outcome: ProcessOutcome;
  try {
    outcome =
      run.transport === "local"
        ? await runLocal(run, output.sinks, ctx.signal)
        : await runSsh(run, output.sinks, ctx);
  } finally {
    output.flush();
  }
  const seconds = (performance.now() - started) / 1000;
  const exitCode = outcome.exitCode ?? 128 + (outcome.signal ? os.constants.signals[outcome.signal] : 0);
  const elapsed = `${seconds.toFixed(2)} s`;

  if (outcome.aborted)
    throw new StepError(
      `script on ${where} cancelled after ${elapsed}${output.tailText()}`,
      undefined,
      "Cancelled",
    );
  if (outcome.timedOut) {
    throw new StepError(
      `script on ${where} timed out after ${run.timeoutSeconds} s and was stopped; ` +
        `find what it waits for, or raise its timeout${output.tailText()}`,
      undefined,
      "ScriptTimeout",
    );
  }
  if (run.transport === "ssh" && run.ssh && exitCode === SSH_CLIENT_ERROR_EXIT) {
    const sshFailure = classifySshFailure(output.stderr, run.ssh);
    if (sshFailure !== undefined) throw new StepError(sshFailure, undefined, "SshFailed");
  }
  if (!okExitCodes.includes(exitCode)) {
    throw new StepError(
      `script on ${where} failed with exit code ${exitCode} (expected ${okExitCodes.join(" or ")}) ` +
        `after ${elapsed}${output.tailText()}`,
      undefined,
      "ScriptFailed",
    );
  }
  ctx.log(`script on ${where} finished: exit ${exitCode} in ${elapsed}`);
  return { exitCode, stdout: output.stdout, stderr: output.stderr, seconds };
}

function validateRun(run: ScriptRun): void {
  for (const [kind, vars] of [
    ["env", run.env],
    ["secrets", run.secrets],
  ] as const) {
    for (const [name, value] of Object.entries(vars ?? {})) {
      if (!ENV_NAME.test(name)) {
        throw new StepError(
          `${kind} name "${name}" is not a valid variable name (expected ${ENV_NAME.source})`,
        );
      }
      if (value.includes("\0"))
        throw new StepError(`${kind} ${name} contains a NUL byte, which no shell can hold`);
    }
  }
  if (run.transport === "ssh" && run.ssh === undefined) {
    throw new StepError("transport is ssh but no ssh target is configured");
  }
  if (run.timeoutSeconds !== undefined && !(run.timeoutSeconds > 0 && Number.isFinite(run.timeoutSeconds))) {
    throw new StepError(`timeoutSeconds must be a positive number, got ${run.timeoutSeconds}`);
  }
}

/** Replaces every secret value (and each substantial line of a multi-line one) with [secret]. */
export function redactor(secrets: string[]): (text: string) => string {
  const fragments = new Set<string>();
  for (const secret of secrets) {
    if (secret === "") continue;
    fragments.add(secret);
    if (secret.includes("\n")) {
      for (const line of secret.split("\n")) {
        if (line.trim().length >= MIN_REDACTED_FRAGMENT) fragments.add(line.replace(/\r$/, ""));
      }
    }
  }
  // Longest first, so a secret that contains another is replaced whole.
  const ordered = [...fragments].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((redacted, fragment) => redacted.split(fragment).join(REDACTED), text);
}

/** Splits both streams into lines as they arrive, logs each line redacted, keeps a redacted copy and a tail. */
class RedactedOutput {
  stdout = "";
  stderr = "";
  private readonly tail: string[] = [];
  private readonly partial = { stdout: "", stderr: "" };
  readonly sinks: OutputSinks = {
    stdout: (chunk) => this.accept("stdout", chunk),
    stderr: (chunk) => this.accept("stderr", chunk),
  };

  constructor(
    private readonly redact: (text: string) => string,
    private readonly log: (message: string) => void,
  ) {}

  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream] !== "") this.emit(stream, this.partial[stream], false);
      this.partial[stream] = "";
    }
  }

  tailText(): string {
    return this.tail.length === 0 ? "; it printed nothing" : `; last output:\n${this.tail.join("\n")}`;
  }

  private accept(stream: "stdout" | "stderr", chunk: string): void {
    const lines = (this.partial[stream] + chunk).split("\n");
    this.partial[stream] = lines.pop() ?? "";
    for (const line of lines) this.emit(stream, line, true);
  }

  private emit(stream: "stdout" | "stderr", rawLine: string, newline: boolean): void {
    const line = this.redact(rawLine);
    const shown = line.replace(/\r$/, "");
    this.log(`| ${shown}`);
    this.tail.push(shown);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    const captured = this[stream] + line + (newline ? "\n" : "");
    this[stream] = captured.length > MAX_CAPTURED_CHARS ? captured.slice(-MAX_CAPTURED_CHARS) : captured;
  }
}
