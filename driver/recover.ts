import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Deployment } from "@pulumi/pulumi/automation";
import { PendingOperation, pendingOperations, withoutPendingOperations } from "./state";

export interface StackLock {
  file: string;
  pid: number;
  hostname: string;
  timestamp: string;
}

/** The stack's locks in a file backend (`file://DIR`): .pulumi/locks/organization/<project>/<stack>/*.json. */
export function fileBackendLocks(backendUrl: string, project: string, stack: string): StackLock[] {
  if (!backendUrl.startsWith("file://")) return [];
  const dir = path.join(fileURLToPath(backendUrl), ".pulumi", "locks", "organization", project, stack);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => {
      const file = path.join(dir, name);
      const lock = JSON.parse(readFileSync(file, "utf8")) as Omit<StackLock, "file">;
      return { ...lock, file };
    });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Releases locks whose owner process is gone; refuses (returns the reason) while an owner still runs
 * or when the lock belongs to another machine, whose processes this one cannot see.
 */
export function releaseStaleLocks(locks: StackLock[]): { released: StackLock[]; blocking: string[] } {
  const released: StackLock[] = [];
  const blocking: string[] = [];
  for (const lock of locks) {
    if (lock.hostname !== hostname()) {
      blocking.push(
        `the stack is locked by pid ${lock.pid} on ${lock.hostname} since ${lock.timestamp}: check that run there; remove ${lock.file} only once it is gone`,
      );
    } else if (processAlive(lock.pid)) {
      blocking.push(
        `the stack is locked by pid ${lock.pid} (still running since ${lock.timestamp}): let it finish or stop it first`,
      );
    } else {
      rmSync(lock.file);
      released.push(lock);
    }
  }
  return { released, blocking };
}

/** Removes the pending operations a killed run left; returns them (the steps will run again). */
export function clearPendingOperations(deployment: Deployment): {
  cleaned: Deployment;
  cleared: PendingOperation[];
} {
  return { cleaned: withoutPendingOperations(deployment), cleared: pendingOperations(deployment) };
}
