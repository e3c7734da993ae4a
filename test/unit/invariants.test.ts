/**
 * Proves that the timeline invariant checker the e2e suites rely on (`invariantViolations` in
 * test/support/invariants.ts) can fail: it returns no violation for a valid timeline recorded in the
 * order the real chain runs (cross-checked against `buildPlan`), and for every rule it checks (I1-I7,
 * "ran N times, expected once", "did not finish") a timeline broken in exactly one way makes it report
 * that rule by name, and nothing unrelated.
 */
import { describe, expect, it } from "vitest";
import { buildPlan } from "../../plan/plan";
import type { TimelineEvent } from "../../steps/record";
import { FleetShape, invariantViolations } from "../support/invariants";
import { haproxyStack, parsed } from "./fixtures";

const RELEASE = "2024.1";
const T0 = Date.parse("2025-03-01T09:00:00.000Z");
/** Each phase of the chain gets its own slot; the steps in one phase run concurrently. */
const SLOT_MS = 10_000;
/** Concurrent steps start a little apart, as real ones do. */
const LANE_MS = 500;
const STEP_MS = 5_000;

/** The NEW NODE and waves of 1, as with maxUnavailable 1 on three nodes. */
const ONE_AT_A_TIME: FleetShape = {
  newNode: "node-1",
  waves: [["node-2"], ["node-3"]],
  minHealthyInRotation: 2,
};
/** Five nodes with maxUnavailable 2. */
const TWO_AT_A_TIME: FleetShape = {
  newNode: "node-1",
  waves: [
    ["node-2", "node-3"],
    ["node-4", "node-5"],
  ],
  minHealthyInRotation: 3,
};

const iso = (ms: number): string => new Date(ms).toISOString();

/** The step kinds the chain records (plan/stepKinds.ts): the last segment of each step id. */
function kindOf(step: string): string {
  return step.split("/").at(-1) ?? step;
}

function event(kind: TimelineEvent["event"], step: string, at: number, seconds?: number): TimelineEvent {
  const owner = step.split("/")[0];
  return {
    event: kind,
    step,
    kind: kindOf(step),
    ...(owner.startsWith("node-") ? { node: owner } : {}),
    release: RELEASE,
    at: iso(at),
    ...(seconds === undefined ? {} : { seconds }),
  };
}

/** The chain's steps as phases, in the order the real chain runs them. */
function phases(shape: FleetShape): string[][] {
  const each = (nodes: string[], actions: string[]) =>
    actions.map((action) => nodes.map((node) => `${node}/${action}`));
  const all = [shape.newNode, ...shape.waves.flat()];
  return [
    ["preflight"],
    ["db/backup"],
    ...each([shape.newNode], ["drain", "stop", "upgrade", "upgrade-check", "config-check"]),
    ["db/allow-functions"],
    ["db/expand"],
    ["db/migrate"],
    ["db/verify"],
    ...each([shape.newNode], ["start", "admit"]),
    ...shape.waves.flatMap((wave) => each(wave, ["drain", "stop", "upgrade", "start", "admit"])),
    all.map((node) => `${node}/version`),
    ["fleet/verify"],
    ["db/contract"],
    ["db/restore-setting"],
  ];
}

/** A timeline of a successful run for `shape`: a start and an end event per step, in time order. */
function validTimeline(shape: FleetShape): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  phases(shape).forEach((steps, phase) => {
    steps.forEach((step, lane) => {
      const start = T0 + phase * SLOT_MS + lane * LANE_MS;
      const end = event("end", step, start + STEP_MS, STEP_MS / 1000);
      // A start step ends with its health gate passed; its result says after how long.
      if (step.endsWith("/start")) end.result = { exitCode: 0, healthySeconds: 1.5 };
      events.push(event("start", step, start), end);
    });
  });
  return events.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

type Mutation = (timeline: TimelineEvent[]) => TimelineEvent[];

/** When `step`'s first `which` event happened. */
function timeOf(timeline: TimelineEvent[], step: string, which: "start" | "end"): number {
  const found = timeline.find((e) => e.step === step && e.event === which);
  if (!found) throw new Error(`no ${which} event for ${step}`);
  return Date.parse(found.at);
}

/** Moves `step`'s `which` event to `at`; throws when there is none, so no mutation is a silent no-op. */
function retime(
  timeline: TimelineEvent[],
  step: string,
  which: "start" | "end",
  at: number,
): TimelineEvent[] {
  timeOf(timeline, step, which);
  return timeline.map((e) => (e.step === step && e.event === which ? { ...e, at: iso(at) } : e));
}

/** `later` starts 1 ms before `earlier` ended. */
const startsBefore =
  (later: string, earlier: string): Mutation =>
  (t) =>
    retime(t, later, "start", timeOf(t, earlier, "end") - 1);

/** `earlier` ends 1 ms after `later` started. */
const endsAfter =
  (earlier: string, later: string): Mutation =>
  (t) =>
    retime(t, earlier, "end", timeOf(t, later, "start") + 1);

/** Removes `step`'s events (only its end event with `which`). */
const drop =
  (step: string, which?: "end"): Mutation =>
  (t) => {
    const kept = t.filter((e) => !(e.step === step && (which === undefined || e.event === which)));
    if (kept.length === t.length) throw new Error(`nothing to drop for ${step}`);
    return kept;
  };

/** `step` fails where it used to end. */
const fails =
  (step: string): Mutation =>
  (t) => {
    timeOf(t, step, "end");
    return t.map((e) =>
      e.step === step && e.event === "end" ? { ...event("fail", step, Date.parse(e.at)), error: "boom" } : e,
    );
  };

/** `step` fails halfway and a retry runs it again to the end, inside the same slot. */
const retried =
  (step: string): Mutation =>
  (t) => {
    const start = timeOf(t, step, "start");
    const end = timeOf(t, step, "end");
    const middle = Math.round((start + end) / 2);
    const attempts = [
      event("start", step, start),
      { ...event("fail", step, middle), error: "transient" },
      event("start", step, middle + 1),
      event("end", step, end),
    ];
    return [...t.filter((e) => e.step !== step), ...attempts].sort(
      (a, b) => Date.parse(a.at) - Date.parse(b.at),
    );
  };

/** The violations that are not one of `expected` (substrings or patterns). */
function unrelated(violations: string[], expected: Array<string | RegExp>): string[] {
  return violations.filter((v) => !expected.some((e) => (typeof e === "string" ? v.includes(e) : e.test(v))));
}

describe("invariantViolations on a valid timeline", () => {
  it.each([
    ["waves of 1", ONE_AT_A_TIME],
    ["waves of 2", TWO_AT_A_TIME],
  ])("reports nothing for %s", (_name, shape) => {
    const timeline = validTimeline(shape);
    expect(timeline.length).toBeGreaterThan(0);
    expect(invariantViolations(timeline, shape)).toEqual([]);
  });

  it.each([
    ["waves of 1", ONE_AT_A_TIME, 3, 1],
    ["waves of 2", TWO_AT_A_TIME, 5, 2],
  ])(
    "%s: the fixture is the real chain (buildPlan's steps, kinds and waits)",
    (_name, shape, nodes, maxUnavailable) => {
      const plan = buildPlan(parsed(haproxyStack(nodes, { loadBalancer: { maxUnavailable } })));
      expect(plan.waves.map((w) => w.nodes)).toEqual([[shape.newNode], ...shape.waves]);
      const timeline = validTimeline(shape);
      const starts = timeline.filter((e) => e.event === "start");
      expect(starts.map((e) => `${e.step} ${e.kind}`).sort()).toEqual(
        plan.steps.map((s) => `${s.id} ${s.kind}`).sort(),
      );
      const early = plan.steps.flatMap((step) =>
        step.after
          .filter((after) => timeOf(timeline, after, "end") > timeOf(timeline, step.id, "start"))
          .map((after) => `${step.id} started before ${after} ended`),
      );
      expect(early).toEqual([]);
    },
  );

  it("runs the nodes of one wave concurrently", () => {
    const timeline = validTimeline(TWO_AT_A_TIME);
    expect(timeOf(timeline, "node-3/drain", "start")).toBeLessThan(timeOf(timeline, "node-2/drain", "end"));
    expect(timeOf(timeline, "node-5/admit", "start")).toBeLessThan(timeOf(timeline, "node-4/admit", "end"));
  });
});

interface OrderCase {
  rule: string;
  shape: FleetShape;
  earlier: string;
  later: string;
  mutate: Mutation;
  /** Rules that cannot help firing with this one (named in the row, each for a reason). */
  also: string[];
}

const orderCases: OrderCase[] = [
  {
    rule: "I1 backup before any drain",
    shape: ONE_AT_A_TIME,
    earlier: "db/backup",
    later: "node-1/drain",
    mutate: endsAfter("db/backup", "node-1/drain"),
    also: [],
  },
  {
    // The chain puts node-1's drain, stop and upgrade between backup and expand, so a backup that
    // ends after expand started also ends after node-1 was drained.
    rule: "I1 backup before schema change",
    shape: ONE_AT_A_TIME,
    earlier: "db/backup",
    later: "db/expand",
    mutate: endsAfter("db/backup", "db/expand"),
    also: ["I1 backup before any drain: db/backup ended at"],
  },
  {
    rule: "I2 drained before stopped",
    shape: TWO_AT_A_TIME,
    earlier: "node-4/drain",
    later: "node-4/stop",
    mutate: startsBefore("node-4/stop", "node-4/drain"),
    also: [],
  },
  {
    rule: "I2 drained before stopped",
    shape: ONE_AT_A_TIME,
    earlier: "node-1/drain",
    later: "node-1/stop",
    mutate: startsBefore("node-1/stop", "node-1/drain"),
    also: [],
  },
  {
    rule: "I2 stopped before upgraded",
    shape: TWO_AT_A_TIME,
    earlier: "node-5/stop",
    later: "node-5/upgrade",
    mutate: startsBefore("node-5/upgrade", "node-5/stop"),
    also: [],
  },
  {
    rule: "I2 upgraded before started",
    shape: ONE_AT_A_TIME,
    earlier: "node-3/upgrade",
    later: "node-3/start",
    mutate: startsBefore("node-3/start", "node-3/upgrade"),
    also: [],
  },
  {
    rule: "I2 NEW NODE upgraded before expand",
    shape: ONE_AT_A_TIME,
    earlier: "node-1/upgrade",
    later: "db/expand",
    mutate: endsAfter("node-1/upgrade", "db/expand"),
    // Ending that late, the upgrade also ends after the upgrade and config checks started.
    also: [
      "I3 upgrade check with the new code: node-1/upgrade ended at",
      "I3 config check with the new code: node-1/upgrade ended at",
    ],
  },
  {
    rule: "I3 upgrade check with the new code",
    shape: ONE_AT_A_TIME,
    earlier: "node-1/upgrade",
    later: "node-1/upgrade-check",
    mutate: startsBefore("node-1/upgrade-check", "node-1/upgrade"),
    also: [],
  },
  {
    rule: "I3 upgrade check before any schema step",
    shape: TWO_AT_A_TIME,
    earlier: "node-1/upgrade-check",
    later: "db/allow-functions",
    mutate: startsBefore("db/allow-functions", "node-1/upgrade-check"),
    // Starting before the upgrade check ended, it also starts before the config check (after it) ended.
    also: ["I3 config check before any schema step: node-1/config-check ended at"],
  },
  {
    rule: "I3 config check with the new code",
    shape: ONE_AT_A_TIME,
    earlier: "node-1/upgrade",
    later: "node-1/config-check",
    mutate: startsBefore("node-1/config-check", "node-1/upgrade"),
    also: [],
  },
  {
    rule: "I3 config check before any schema step",
    shape: ONE_AT_A_TIME,
    earlier: "node-1/config-check",
    later: "db/allow-functions",
    mutate: startsBefore("db/allow-functions", "node-1/config-check"),
    also: [],
  },
  {
    rule: "I2 NEW NODE started only after verify",
    shape: TWO_AT_A_TIME,
    earlier: "db/verify",
    later: "node-1/start",
    mutate: startsBefore("node-1/start", "db/verify"),
    also: [],
  },
  {
    rule: "I3 setting before expand",
    shape: ONE_AT_A_TIME,
    earlier: "db/allow-functions",
    later: "db/expand",
    mutate: endsAfter("db/allow-functions", "db/expand"),
    also: [],
  },
  {
    rule: "I3 expand before migrate",
    shape: ONE_AT_A_TIME,
    earlier: "db/expand",
    later: "db/migrate",
    mutate: startsBefore("db/migrate", "db/expand"),
    also: [],
  },
  {
    rule: "I3 migrate before verify",
    shape: TWO_AT_A_TIME,
    earlier: "db/migrate",
    later: "db/verify",
    mutate: startsBefore("db/verify", "db/migrate"),
    also: [],
  },
  {
    rule: "I4 healthy before admitted",
    shape: TWO_AT_A_TIME,
    earlier: "node-3/start",
    later: "node-3/admit",
    mutate: startsBefore("node-3/admit", "node-3/start"),
    also: [],
  },
  {
    // node-4 drains after node-2 is back but 1 ms before node-3 is: two nodes out, three in
    // rotation, so only the wave order is broken.
    rule: "I5 wave order",
    shape: TWO_AT_A_TIME,
    earlier: "node-3/admit",
    later: "node-4/drain",
    mutate: startsBefore("node-4/drain", "node-3/admit"),
    also: [],
  },
  {
    rule: "I6 every node admitted before contract",
    shape: TWO_AT_A_TIME,
    earlier: "node-5/admit",
    later: "db/contract",
    mutate: endsAfter("node-5/admit", "db/contract"),
    also: [],
  },
  {
    rule: "I6 fleet verified before contract",
    shape: ONE_AT_A_TIME,
    earlier: "fleet/verify",
    later: "db/contract",
    mutate: endsAfter("fleet/verify", "db/contract"),
    also: [],
  },
  {
    rule: "I7 setting restored after contract",
    shape: ONE_AT_A_TIME,
    earlier: "db/contract",
    later: "db/restore-setting",
    mutate: startsBefore("db/restore-setting", "db/contract"),
    also: [],
  },
];

describe("invariantViolations: each ordering rule fires on its own violation", () => {
  it.each(orderCases)("$rule ($earlier vs $later)", ({ rule, shape, earlier, later, mutate, also }) => {
    const timeline = mutate(validTimeline(shape));
    const violations = invariantViolations(timeline, shape);
    const endedAt = iso(timeOf(timeline, earlier, "end"));
    expect(violations).toContainEqual(`${rule}: ${earlier} ended at ${endedAt} after ${later} started`);
    expect(unrelated(violations, [rule, ...also])).toEqual([]);
    for (const other of also) expect(violations).toContainEqual(expect.stringContaining(other));
  });

  it("covers every ordering rule the checker has", () => {
    expect(new Set(orderCases.map((c) => c.rule)).size).toBe(19);
  });
});

describe("invariantViolations: I5, nodes out of rotation", () => {
  it("reports more nodes out at once than the widest wave, at the drain that made it so", () => {
    const shape: FleetShape = { ...ONE_AT_A_TIME, minHealthyInRotation: undefined };
    const violations = invariantViolations(
      startsBefore("node-3/drain", "node-2/admit")(validTimeline(shape)),
      shape,
    );
    expect(violations).toContainEqual("I5 2 nodes out of rotation at once around node-3");
    // Out of order as well, necessarily: a node drained before the wave before it is back.
    expect(unrelated(violations, ["I5 wave order", /^I5 \d+ nodes out of rotation at once/])).toEqual([]);
    expect(violations.filter((v) => v.startsWith("I5 only"))).toEqual([]);
  });

  it("with waves of 2, reports 3 nodes out when a wave drains before the previous one is back", () => {
    const violations = invariantViolations(
      startsBefore("node-4/drain", "node-2/admit")(validTimeline(TWO_AT_A_TIME)),
      TWO_AT_A_TIME,
    );
    expect(violations).toContainEqual("I5 3 nodes out of rotation at once around node-4");
    expect(violations).toContainEqual("I5 only 2 nodes in rotation while node-4 was out");
    expect(
      unrelated(violations, ["I5 wave order", /^I5 \d+ nodes out of rotation at once/, /^I5 only \d+ nodes/]),
    ).toEqual([]);
  });

  it("does not count nodes out at different times as out at once", () => {
    // node-1 stays out (its admit ends late) while node-2 and then node-3 go out and come back one
    // after the other: never more than 2 out at once, though node-1's time out overlaps both.
    const shape: FleetShape = { newNode: "node-1", waves: [["node-2"], ["node-3"]] };
    const valid = validTimeline(shape);
    const timeline = retime(valid, "node-1/admit", "end", timeOf(valid, "node-3/admit", "end"));
    const violations = invariantViolations(timeline, shape);
    expect(violations).toContainEqual("I5 2 nodes out of rotation at once around node-2");
    expect(violations).toContainEqual("I5 2 nodes out of rotation at once around node-3");
    expect(violations.filter((v) => /^I5 [3-9] nodes/.test(v))).toEqual([]);
    expect(unrelated(violations, ["I5 wave order", /^I5 2 nodes out of rotation at once/])).toEqual([]);
  });

  it("reports too few nodes in rotation against minHealthyInRotation, node by node", () => {
    const shape: FleetShape = { ...ONE_AT_A_TIME, minHealthyInRotation: 3 };
    expect(invariantViolations(validTimeline(shape), shape)).toEqual([
      "I5 only 2 nodes in rotation while node-1 was out",
      "I5 only 2 nodes in rotation while node-2 was out",
      "I5 only 2 nodes in rotation while node-3 was out",
    ]);
  });

  it("reports too few nodes in rotation when two nodes of a 3-node fleet are out at once", () => {
    const violations = invariantViolations(
      startsBefore("node-3/drain", "node-2/admit")(validTimeline(ONE_AT_A_TIME)),
      ONE_AT_A_TIME,
    );
    expect(violations).toContainEqual("I5 only 1 nodes in rotation while node-3 was out");
  });
});

describe("invariantViolations: the health gate inside the start step", () => {
  it("reports a start step that ended without a passed health gate in its result", () => {
    const timeline = validTimeline(ONE_AT_A_TIME).map((e) =>
      e.step === "node-3/start" && e.event === "end" ? { ...e, result: { exitCode: 0 } } : e,
    );
    const violations = invariantViolations(timeline, ONE_AT_A_TIME);
    expect(violations).toEqual(["I4 node-3/start ended without passing its health gate"]);
  });
});

describe("invariantViolations: every step ran once and finished", () => {
  it.each([
    ["retried after a failure", "db/migrate ran 2 times, expected once", retried("db/migrate")],
    ["retried in a wave", "node-4/stop ran 2 times, expected once", retried("node-4/stop")],
    ["never ran", "node-2/start ran 0 times, expected once", drop("node-2/start")],
    ["never ran (backup)", "db/backup ran 0 times, expected once", drop("db/backup")],
  ])("a step %s: %s", (_name, expected, mutate) => {
    const violations = invariantViolations(mutate(validTimeline(TWO_AT_A_TIME)), TWO_AT_A_TIME);
    expect(violations).toContainEqual(expected);
    expect(unrelated(violations, [expected])).toEqual([]);
  });

  it.each([
    ["has no end event", drop("fleet/verify", "end"), "fleet/verify did not finish"],
    ["failed", fails("db/contract"), "db/contract did not finish"],
    ["failed (a wave node's admit)", fails("node-2/admit"), "node-2/admit did not finish"],
    ["has no end event (new node upgrade)", drop("node-1/upgrade", "end"), "node-1/upgrade did not finish"],
  ])("a step that %s", (_name, mutate, expected) => {
    const violations = invariantViolations(mutate(validTimeline(ONE_AT_A_TIME)), ONE_AT_A_TIME);
    expect(violations).toContainEqual(expected);
    expect(unrelated(violations, [expected])).toEqual([]);
  });

  it("refuses a timeline with an end event and no start", () => {
    const timeline = drop("db/expand")(validTimeline(ONE_AT_A_TIME));
    timeline.push(event("end", "db/expand", T0));
    expect(() => invariantViolations(timeline, ONE_AT_A_TIME)).toThrow("end without start for db/expand");
  });
});
