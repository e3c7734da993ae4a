import type { TimelineEvent } from "../../steps/record";

/** When one step really ran, from the recorded timeline. */
export interface StepSpan {
  step: string;
  kind: string;
  node?: string;
  start: number;
  end?: number;
  failed: boolean;
  /** The result on its end event, when the timeline kept it. */
  result?: Record<string, unknown>;
}

export function spans(timeline: TimelineEvent[]): Map<string, StepSpan[]> {
  const result = new Map<string, StepSpan[]>();
  for (const event of timeline) {
    const list = result.get(event.step) ?? [];
    if (event.event === "start") {
      list.push({
        step: event.step,
        kind: event.kind,
        node: event.node,
        start: Date.parse(event.at),
        failed: false,
      });
    } else {
      const open = list.at(-1);
      if (!open) throw new Error(`${event.event} without start for ${event.step}`);
      open.end = Date.parse(event.at);
      open.failed = event.event === "fail";
      if (event.result && typeof event.result === "object")
        open.result = event.result as Record<string, unknown>;
    }
    result.set(event.step, list);
  }
  return result;
}

export interface FleetShape {
  newNode: string;
  /** Waves after the NEW NODE, in order. */
  waves: string[][];
  minHealthyInRotation?: number;
}

/**
 * Checks I1-I6 on what really happened (timeline of a successful run) and returns the violations,
 * each a sentence; an empty list means every invariant held.
 */
export function invariantViolations(timeline: TimelineEvent[], shape: FleetShape): string[] {
  const byStep = spans(timeline);
  const problems: string[] = [];
  const once = (step: string): StepSpan | undefined => {
    const list = byStep.get(step) ?? [];
    if (list.length !== 1) {
      problems.push(`${step} ran ${list.length} times, expected once`);
      return list[0];
    }
    if (list[0].failed || list[0].end === undefined) problems.push(`${step} did not finish`);
    return list[0];
  };
  const before = (a: string, b: string, why: string) => {
    const first = once(a);
    const second = once(b);
    if (first?.end !== undefined && second && first.end > second.start) {
      problems.push(`${why}: ${a} ended at ${new Date(first.end).toISOString()} after ${b} started`);
    }
  };
  const allNodes = [shape.newNode, ...shape.waves.flat()];

  // I1
  for (const node of allNodes) before("db/backup", `${node}/drain`, "I1 backup before any drain");
  before("db/backup", "db/expand", "I1 backup before schema change");
  // I2
  for (const node of allNodes) {
    before(`${node}/drain`, `${node}/stop`, "I2 drained before stopped");
    before(`${node}/stop`, `${node}/upgrade`, "I2 stopped before upgraded");
    before(`${node}/upgrade`, `${node}/start`, "I2 upgraded before started");
  }
  before(`${shape.newNode}/upgrade`, "db/expand", "I2 NEW NODE upgraded before expand");
  before(`${shape.newNode}/upgrade`, `${shape.newNode}/upgrade-check`, "I3 upgrade check with the new code");
  before(`${shape.newNode}/upgrade-check`, "db/allow-functions", "I3 upgrade check before any schema step");
  before(`${shape.newNode}/upgrade`, `${shape.newNode}/config-check`, "I3 config check with the new code");
  before(`${shape.newNode}/config-check`, "db/allow-functions", "I3 config check before any schema step");
  before("db/verify", `${shape.newNode}/start`, "I2 NEW NODE started only after verify");
  // I3
  before("db/allow-functions", "db/expand", "I3 setting before expand");
  before("db/expand", "db/migrate", "I3 expand before migrate");
  before("db/migrate", "db/verify", "I3 migrate before verify");
  // I4
  // The health gate is the end of the start step: its result carries how long the node took to answer 200.
  for (const node of allNodes) {
    before(`${node}/start`, `${node}/admit`, "I4 healthy before admitted");
    const started = byStep.get(`${node}/start`)?.[0];
    if (started?.end !== undefined && !started.failed && typeof started.result?.healthySeconds !== "number") {
      problems.push(`I4 ${node}/start ended without passing its health gate`);
    }
  }
  // I5: wave k drains only after wave k-1 is admitted; at most one wave out at a time
  const waves = [[shape.newNode], ...shape.waves];
  for (let w = 1; w < waves.length; w++) {
    for (const node of waves[w])
      for (const prev of waves[w - 1]) before(`${prev}/admit`, `${node}/drain`, "I5 wave order");
  }
  const outIntervals = allNodes.map((node) => ({
    node,
    from: byStep.get(`${node}/drain`)?.[0]?.start ?? NaN,
    to: byStep.get(`${node}/admit`)?.[0]?.end ?? NaN,
  }));
  const maxOut = Math.max(...waves.map((w) => w.length));
  for (const interval of outIntervals) {
    // Out at once: the nodes out when this one was drained (the most at once is at some drain).
    const overlapping = outIntervals.filter((o) => o.from <= interval.from && interval.from < o.to).length;
    if (overlapping > maxOut)
      problems.push(`I5 ${overlapping} nodes out of rotation at once around ${interval.node}`);
    const inRotation = allNodes.length - overlapping;
    if (shape.minHealthyInRotation !== undefined && inRotation < shape.minHealthyInRotation) {
      problems.push(`I5 only ${inRotation} nodes in rotation while ${interval.node} was out`);
    }
  }
  // I6
  for (const node of allNodes)
    before(`${node}/admit`, "db/contract", "I6 every node admitted before contract");
  before("fleet/verify", "db/contract", "I6 fleet verified before contract");
  before("db/contract", "db/restore-setting", "I7 setting restored after contract");
  return problems;
}
