/**
 * Runs a script on this machine: `bash -s` with the script on stdin, secrets in the environment.
 * Also home of the process plumbing the ssh runner shares (stdin feeding, timeout, kill, output).
 */
import { ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { StepError } from "../context";
import { trackChild } from "./reaper";
import type { OutputSinks, ProcessOutcome, ScriptRun } from "./types";

/** After SIGTERM to the process group, how long before SIGKILL. */
const KILL_GRACE_MS = 5_000;
/**
 * After the process exits, how long to wait for its output pipes to close: a background child that
 * inherited them (a daemon started without redirection) would otherwise hold the step open forever.
 */
const PIPE_CLOSE_GRACE_MS = 1_000;

export interface ProcessSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Text fed through a pipe, or an open descriptor the child reads itself (keyInput.ts). */
  stdin: string | { fd: number };
  timeoutMs?: number;
  signal?: AbortSignal;
  sinks: OutputSinks;
}

export function runLocal(run: ScriptRun, sinks: OutputSinks, signal?: AbortSignal): Promise<ProcessOutcome> {
  return runProcess({
    command: "bash",
    args: ["-s"],
    env: { ...process.env, ...run.env, ...run.secrets },
    stdin: scriptForStdin(run.script),
    timeoutMs: run.timeoutSeconds === undefined ? undefined : run.timeoutSeconds * 1000,
    signal,
    sinks,
  });
}

/**
 * The script as `bash -s` reads it: wrapped in a brace group, so bash parses all of it before running
 * any of it. A syntax error (or a truncated stdin) then runs nothing, and a command in the script that
 * reads stdin (ssh, mysql, apt prompts) sees end-of-file instead of swallowing the rest of the script.
 */
export function scriptForStdin(script: string, preamble = ""): string {
  return `{\n${preamble}${script}\n}\n`;
}

/**
 * What a remote login shell is asked to run, whatever that shell is (sh, dash, zsh): bash, reading
 * the script from stdin, bounded by coreutils `timeout` (SIGTERM, SIGKILL 5 s later) so the remote
 * process group stops even when the client is gone.
 */
export function remoteBashCommand(timeoutSeconds?: number): string {
  return timeoutSeconds === undefined ? "bash -s" : `timeout -k 5 ${timeoutSeconds} bash -s`;
}

/**
 * Spawns `command` in its own process group, feeds it `stdin`, streams its output to `sinks`, and on
 * timeout or abort kills the whole group (SIGTERM, then SIGKILL after a grace period).
 */
export function runProcess(spec: ProcessSpec): Promise<ProcessOutcome> {
  return new Promise<ProcessOutcome>((resolve, reject) => {
    if (spec.signal?.aborted) {
      resolve({ exitCode: null, signal: null, timedOut: false, aborted: true });
      return;
    }
    const stdin: "pipe" | number = typeof spec.stdin === "string" ? "pipe" : spec.stdin.fd;
    const child = spawn(spec.command, spec.args, {
      env: spec.env,
      stdio: [stdin, "pipe", "pipe"],
      detached: true,
    }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
    // The group dies with this process, whatever ends it (reaper.ts).
    const untrack = child.pid === undefined ? () => undefined : trackChild(child.pid, "group");
    let timedOut = false;
    let aborted = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const stop = () => {
      killGroup("SIGTERM");
      const escalate = setTimeout(() => {
        if (!settled) killGroup("SIGKILL");
      }, KILL_GRACE_MS);
      escalate.unref();
      timers.push(escalate);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    const finish = () => {
      untrack();
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      resolve({ exitCode: exit?.code ?? null, signal: exit?.signal ?? null, timedOut, aborted });
    };

    child.once("error", (err) => {
      untrack();
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      reject(new StepError(`cannot run ${spec.command}: ${err.message}; is it installed and on PATH?`));
    });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => spec.sinks.stdout(chunk));
    child.stderr.on("data", (chunk: string) => spec.sinks.stderr(chunk));
    if (typeof spec.stdin === "string" && child.stdin) {
      // A script that exits before reading all of its stdin closes the pipe: not an error of ours.
      child.stdin.on("error", () => undefined);
      child.stdin.end(spec.stdin);
    }

    const timeout =
      spec.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            stop();
          }, spec.timeoutMs);
    if (timeout) timers.push(timeout);
    spec.signal?.addEventListener("abort", onAbort, { once: true });

    child.once("exit", (code, signal) => {
      exit = { code, signal };
      clearTimeout(timeout);
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, PIPE_CLOSE_GRACE_MS);
      timers.push(grace);
    });
    child.once("close", (code, signal) => {
      exit ??= { code, signal };
      finish();
    });
  });
}
