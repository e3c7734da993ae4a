/**
 * One HAProxy process as the lab runs it (lab/services/haproxy.ts in front of Glance,
 * lab/services/galeraHaproxy.ts in front of a Galera cluster): started in the foreground as our child
 * with its log in a file, stopped with SIGTERM (SIGKILL after 5 s, or when the test runner exits
 * without stopping it), and waited for until its runtime API says it is ready.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { parseStatCsv, runtimeCommand } from "../../steps/lb/haproxyRuntime";

export interface HaproxyProcess {
  pid: number;
  /** The exit code once it has exited (-1 for a signal), undefined while it runs. */
  exitCode(): number | null | undefined;
  stop(): Promise<void>;
}

/** The last 20 lines of a log, for an error message. */
export function logTail(logPath: string): string {
  try {
    return fs.readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts `haproxy -db -f configPath`, its stdout and stderr appended to logPath. */
export function spawnHaproxy(configPath: string, logPath: string): HaproxyProcess {
  const logFd = fs.openSync(logPath, "a");
  // -db: stay in the foreground as our child, so stop() and a crashed test both end it.
  const child = spawn("haproxy", ["-db", "-f", configPath], { stdio: ["ignore", logFd, logFd] });
  fs.closeSync(logFd);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`could not start haproxy: see ${logPath}`);
  const pid = child.pid;

  // A test runner that dies without afterAll must not leave HAProxy holding its ports.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    if (exitCode !== undefined) return;
    child.kill("SIGTERM");
    const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killTimer);
  };
  return { pid, exitCode: () => exitCode, stop };
}

/**
 * Asks the runtime API `show stat` every 100 ms until `problem` finds nothing wrong with its rows
 * (it returns undefined). Throws with the log's tail if HAProxy exits first, or (after stopping it)
 * if the deadline passes: the messages are `says`' words for this HAProxy.
 */
export async function waitUntilReady(opts: {
  haproxy: HaproxyProcess;
  runtimeApi: string;
  logPath: string;
  timeoutMs: number;
  /** What is still not ready in the stats rows, or undefined when all is. */
  problem: (rows: ReturnType<typeof parseStatCsv>) => string | undefined;
  says: { exited: (code: number | null) => string; notReady: (problem: string) => string };
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastProblem = "runtime API not answering yet";
  for (;;) {
    const exitCode = opts.haproxy.exitCode();
    if (exitCode !== undefined) {
      throw new Error(`${opts.says.exited(exitCode)}; log:\n${logTail(opts.logPath)}`);
    }
    if (Date.now() > deadline) {
      await opts.haproxy.stop();
      throw new Error(`${opts.says.notReady(lastProblem)}; log:\n${logTail(opts.logPath)}`);
    }
    try {
      const problem = opts.problem(parseStatCsv(await runtimeCommand(opts.runtimeApi, "show stat", 1_000)));
      if (problem === undefined) return;
      lastProblem = problem;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
