/**
 * Proof that the playbook did what it claims: every node was drained (HAProxy saw it in DRAIN during
 * the drain task, the task's wait is in its timings) and was out of rotation while Glance stopped.
 */
import { TaskTiming, taskOf } from "./ansibleTimings";
import { RotationSample, takesTraffic } from "./rotation";

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
