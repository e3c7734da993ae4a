/** The lab's long-running processes (MariaDB, HAProxy): is one alive, stop it, let it outlive us. */
import * as fs from "node:fs";
import { pollUntil } from "../steps/context";

export const POLL_MS = 150;

export function isAlive(pid: number, commandPart: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(commandPart);
  } catch {
    return false;
  }
}

export async function stopPid(pid: number, commandPart: string, what: string): Promise<void> {
  if (!isAlive(pid, commandPart)) return;
  process.kill(pid, "SIGTERM");
  try {
    await pollUntil(async () => (isAlive(pid, commandPart) ? undefined : true), {
      timeoutMs: 30_000,
      intervalMs: POLL_MS,
      describe: () => `${what} (pid ${pid}) to exit after SIGTERM`,
    });
  } catch {
    process.kill(pid, "SIGKILL");
  }
}

/**
 * Starts a service; with `outlive`, drops the process-exit hooks its helper registered to kill it
 * (the helpers have no option for that yet), so it keeps running after the CLI exits.
 */
export async function startService<T>(outlive: boolean, start: () => Promise<T>): Promise<T> {
  const hooksBefore = new Set(process.listeners("exit"));
  const service = await start();
  if (outlive) {
    for (const hook of process.listeners("exit"))
      if (!hooksBefore.has(hook)) process.removeListener("exit", hook);
  }
  return service;
}
