/**
 * Children die with this process. Step processes run in their own process group (so a timeout
 * can stop a whole script), which also means nothing stops them when the process that started
 * them dies. Two mechanisms, for the two ways a provider ends:
 * - SIGTERM/SIGINT (the engine cancelling, an operator's Ctrl-C): the process-wide abort signal
 *   (`stepAbortSignal`, every step's ctx.signal) fires, steps stop their children, and every child
 *   still tracked gets SIGTERM; the process then exits with the signal's status.
 * - SIGKILL, which no handler sees: a watchdog process holds a pipe from this one and, when the
 *   pipe closes (the kernel closes it however this process ends), sends SIGTERM, then SIGKILL after
 *   a grace period, to every process group and process still tracked. It costs one small node
 *   process per provider, started with the first tracked child.
 */
import { ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";
import * as os from "node:os";

/** After the signal handler's SIGTERM, how long children get before the process exits anyway. */
const EXIT_GRACE_MS = 5_000;
/** The watchdog's grace between SIGTERM and SIGKILL. */
export const WATCHDOG_GRACE_MS = 3_000;

// The watchdog: "+N" tracks N (a negative N is a process group), "-N" forgets it; end of input
// means the parent is gone.
const WATCHDOG_SOURCE = `
const tracked = new Set();
let buffered = "";
const signal = (sig) => { for (const id of tracked) { try { process.kill(id, sig); } catch {} } };
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (buffered + chunk).split("\\n");
  buffered = lines.pop();
  for (const line of lines) {
    const id = Number(line.slice(1));
    if (line[0] === "+") tracked.add(id); else tracked.delete(id);
  }
});
process.stdin.on("close", () => {
  if (tracked.size === 0) process.exit(0);
  signal("SIGTERM");
  setTimeout(() => { signal("SIGKILL"); process.exit(0); }, ${WATCHDOG_GRACE_MS});
});
`;

const tracked = new Set<number>();
let watchdog: { process: ChildProcess; input: Socket } | undefined;
let controller: AbortController | undefined;

/** The watchdog's pid, once started (for tests). */
export function watchdogPid(): number | undefined {
  return watchdog?.process.pid;
}

function tell(line: string): void {
  if (watchdog === undefined) {
    const child = spawn(process.execPath, ["-e", WATCHDOG_SOURCE], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
      env: {},
    });
    const input = child.stdin as Socket;
    input.on("error", () => undefined);
    // Neither the watchdog nor its pipe keeps this process alive.
    child.unref();
    input.unref();
    watchdog = { process: child, input };
  }
  watchdog.input.write(`${line}\n`);
}

/**
 * Tracks a child until the returned function is called: its process group (`group`, for a child
 * spawned detached) or the process alone. Call the function once the child has exited.
 */
export function trackChild(pid: number, kind: "group" | "process"): () => void {
  const id = kind === "group" ? -pid : pid;
  tracked.add(id);
  tell(`+${id}`);
  return () => {
    if (!tracked.delete(id)) return;
    tell(`-${id}`);
  };
}

function onSignal(signal: NodeJS.Signals): void {
  controller?.abort(new Error(`received ${signal}`));
  for (const id of tracked) {
    try {
      process.kill(id, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
  const started = Date.now();
  const exit = (): void => process.exit(128 + (os.constants.signals[signal] ?? 0));
  const poll = setInterval(() => {
    if (tracked.size === 0 || Date.now() - started >= EXIT_GRACE_MS) {
      clearInterval(poll);
      exit();
    }
  }, 50);
}

/**
 * The signal every step of this process runs under (its ctx.signal): aborted on SIGTERM or SIGINT,
 * after which the process exits once its children are gone (at most EXIT_GRACE_MS).
 */
export function stepAbortSignal(): AbortSignal {
  if (controller === undefined) {
    controller = new AbortController();
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return controller.signal;
}
