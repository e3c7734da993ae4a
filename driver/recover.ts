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

/**
 * Whether a process still runs. A zombie does not: a killed run's engine stays one until its new
 * parent reaps it, which some inits do late, and its lock must not hold `recover` up meanwhile.
 */
export function processAlive(pid: number, procStat: (pid: number) => string = readProcStat): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  let stat: string;
  try {
    stat = procStat(pid);
  } catch {
    return true; // no /proc: the signal's answer stands
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 1).trim()[0] !== "Z";
}

function readProcStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, "utf8");
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

/** The resource type of a provisioned NEW NODE's instance (components/newNode.ts). */
const INSTANCE_TYPE = "aws:ec2/instance:Instance";

/** The URN's resource type: `urn:pulumi:stack::project::parent$type::name` -> `type`. */
function urnType(urn: string): string {
  return (urn.split("::")[2] ?? "").split("$").at(-1) ?? "";
}

/**
 * Removes the pending operations a killed run left; returns them (the steps will run again). A
 * launch of the NEW NODE's instance in flight is kept: the instance may exist in EC2 without the
 * state knowing it, and clearing the launch would make the next `up` launch a second one.
 */
export function clearPendingOperations(deployment: Deployment): {
  cleaned: Deployment;
  cleared: PendingOperation[];
  launches: PendingOperation[];
} {
  const pending = pendingOperations(deployment);
  const launches = pending.filter(
    (op) => op.type === "creating" && urnType(op.resource.urn) === INSTANCE_TYPE,
  );
  const cleared = pending.filter((op) => !launches.includes(op));
  const cleaned = withoutPendingOperations(deployment);
  const body = cleaned.deployment as { pending_operations?: PendingOperation[] };
  body.pending_operations = launches;
  return { cleaned, cleared, launches };
}

/** What the operator does about a launch the killed run left in flight: find it, terminate it, clear it. */
export function launchInFlightAdvice(launch: PendingOperation, stack: string, release: string): string {
  const name =
    launch.resource.urn
      .split("::")
      .at(-1)
      ?.replace(/\/provision$/, "") ?? "the NEW NODE";
  return (
    `the launch of the NEW NODE ${name} (${INSTANCE_TYPE}) was in flight when the run was killed: an EC2 ` +
    `instance may exist that the stack does not know, and clearing the launch would make the next up launch a ` +
    `second one, so recover kept it. Find it with \`aws ec2 describe-instances --filters Name=tag:Name,Values=${name} ` +
    `Name=tag:glance:release,Values=${release} --query "Reservations[].Instances[].InstanceId"\`; it serves ` +
    `nothing yet (it joins the target group only at its admit), so terminate any you find ` +
    `(\`aws ec2 terminate-instances --instance-ids <id>\`), then clear the launch with ` +
    `\`pulumi refresh --clear-pending-creates --stack ${stack}\` and run \`up\`: it launches one instance.`
  );
}
