/**
 * Reads what the `ansible.posix.json` stdout callback prints at the end of a playbook run: one task
 * timing per task and host, with its start and end (the callback's UTC timestamps) and its outcome.
 */

export interface TaskTiming {
  play: string;
  task: string;
  host: string;
  startedAt: number;
  endedAt: number;
  ms: number;
  failed: boolean;
  skipped: boolean;
}

interface CallbackTask {
  task?: { name?: string; duration?: { start?: string; end?: string } };
  hosts?: Record<string, { failed?: boolean; skipped?: boolean } | undefined>;
}

interface CallbackOutput {
  plays?: Array<{ play?: { name?: string }; tasks?: CallbackTask[] }>;
}

/** `2026-11-26T16:30:00.123456Z` (microseconds) as epoch milliseconds. */
export function parseCallbackTime(text: string): number {
  const at = Date.parse(text.replace(/(\.\d{3})\d*/, "$1").replace(/([^Z])$/, "$1Z"));
  if (Number.isNaN(at)) throw new Error(`not a time: ${JSON.stringify(text)}`);
  return at;
}

/** The JSON document in the playbook's stdout (anything printed before it is skipped). */
export function callbackDocument(stdout: string): CallbackOutput {
  const start = stdout.search(/^\{/m);
  if (start < 0)
    throw new Error(`no JSON document from the ansible.posix.json callback in:\n${stdout.slice(-2000)}`);
  return JSON.parse(stdout.slice(start)) as CallbackOutput;
}

export function taskTimings(stdout: string): TaskTiming[] {
  const timings: TaskTiming[] = [];
  for (const play of callbackDocument(stdout).plays ?? []) {
    for (const task of play.tasks ?? []) {
      const start = task.task?.duration?.start;
      const end = task.task?.duration?.end;
      if (start === undefined || end === undefined) continue;
      for (const [host, result] of Object.entries(task.hosts ?? {})) {
        const startedAt = parseCallbackTime(start);
        const endedAt = parseCallbackTime(end);
        timings.push({
          play: play.play?.name ?? "",
          task: task.task?.name ?? "",
          host,
          startedAt,
          endedAt,
          ms: endedAt - startedAt,
          failed: result?.failed === true,
          skipped: result?.skipped === true,
        });
      }
    }
  }
  return timings;
}

/** The timing of the named task on one host (the last one, if it ran more than once). */
export function taskOf(timings: TaskTiming[], task: string, host: string): TaskTiming | undefined {
  return timings.filter((t) => t.task === task && t.host === host).pop();
}
