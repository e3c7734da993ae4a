/**
 * Proof that the playbook did what it claims: every node was drained (HAProxy saw it in DRAIN during
 * the drain task, the task's wait is in its timings) and was out of rotation while Glance stopped;
 * on the ALB lab, every node was deregistered and its task waited until `unused`.
 */
import { TaskTiming, taskOf } from "./ansibleTimings";
import { albTakesTraffic, RotationSample, takesTraffic } from "./rotation";

export interface DrainCheckNames {
  drainTask: string;
  stopTask: string;
}

/** Every way the playbook's drains fall short; empty when each node was really drained. */
export function playbookDrainProblems(
  nodes: string[],
  tasks: TaskTiming[],
  samples: RotationSample[],
  names: DrainCheckNames,
): string[] {
  const problems: string[] = [];
  let anyWaited = false;
  for (const node of nodes) {
    const drain = taskOf(tasks, names.drainTask, node);
    const stop = taskOf(tasks, names.stopTask, node);
    if (drain === undefined || drain.failed || drain.skipped) {
      problems.push(`${node}: no successful "${names.drainTask}" task in the playbook's timings`);
      continue;
    }
    if (stop === undefined) {
      problems.push(`${node}: no "${names.stopTask}" task in the playbook's timings`);
      continue;
    }
    const beforeStop = samples.filter((s) => s.at >= drain.startedAt && s.at <= stop.startedAt);
    const drained = beforeStop.filter((s) => s.servers[node]?.status === "DRAIN");
    if (drained.length === 0)
      problems.push(`${node}: HAProxy never showed it in DRAIN before it was stopped`);
    if (drained.some((s) => (s.servers[node]?.scur ?? 0) > 0) && drain.ms >= 1_000) anyWaited = true;
    const duringStop = samples.filter((s) => s.at >= stop.startedAt && s.at <= stop.endedAt);
    const serving = duringStop.filter((s) => takesTraffic(s.servers[node]?.status ?? "UP"));
    if (duringStop.length === 0) problems.push(`${node}: no HAProxy poll while it was being stopped`);
    if (serving.length > 0)
      problems.push(
        `${node}: HAProxy had it in rotation (${serving[0].servers[node]?.status}) while it was stopped`,
      );
  }
  if (nodes.length > 0 && !anyWaited)
    problems.push("no drain waited for a session: the drain wait is not visible in the playbook's timings");
  return problems;
}

export interface AlbCheckNames {
  deregisterTask: string;
  stopTask: string;
  /** The target group's deregistration delay: what waiting until `unused` takes on AWS. */
  delaySeconds: number;
}

/** Below the delay by more than this, the deregister task did not wait until `unused`. */
const DELAY_SLACK_MS = 500;

/**
 * Every way the ALB playbook's rotation falls short (empty when each node was really taken out):
 * its deregister task succeeded and lasted the group's delay (waited until `unused`, as AWS shows a
 * deregistered target `draining` until the delay is over), the lab ALB showed the target out of
 * rotation (`draining`) before Glance stopped, and never `healthy` while Glance was stopping.
 */
export function playbookAlbProblems(
  nodes: string[],
  tasks: TaskTiming[],
  samples: RotationSample[],
  names: AlbCheckNames,
): string[] {
  const problems: string[] = [];
  for (const node of nodes) {
    const out = taskOf(tasks, names.deregisterTask, node);
    const stop = taskOf(tasks, names.stopTask, node);
    if (out === undefined || out.failed || out.skipped) {
      problems.push(`${node}: no successful "${names.deregisterTask}" task in the playbook's timings`);
      continue;
    }
    if (out.ms < names.delaySeconds * 1000 - DELAY_SLACK_MS)
      problems.push(
        `${node}: "${names.deregisterTask}" took ${(out.ms / 1000).toFixed(2)} s, less than the ` +
          `${names.delaySeconds} s deregistration delay: it did not wait until unused`,
      );
    if (stop === undefined) {
      problems.push(`${node}: no "${names.stopTask}" task in the playbook's timings`);
      continue;
    }
    const beforeStop = samples.filter((s) => s.at >= out.startedAt && s.at <= stop.startedAt);
    if (!beforeStop.some((s) => s.servers[node]?.status === "draining"))
      problems.push(`${node}: the lab ALB never showed it draining before it was stopped`);
    const duringStop = samples.filter((s) => s.at >= stop.startedAt && s.at <= stop.endedAt);
    if (duringStop.length === 0) problems.push(`${node}: no ALB poll while it was being stopped`);
    const serving = duringStop.filter((s) => albTakesTraffic(s.servers[node]?.status ?? "healthy"));
    if (serving.length > 0)
      problems.push(`${node}: the lab ALB had it healthy (in rotation) while it was stopped`);
  }
  return problems;
}
