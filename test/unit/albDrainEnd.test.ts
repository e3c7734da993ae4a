import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DrainMemory,
  DrainObservation,
  drainStep,
  DrainVerdict,
  MIN_IDLE_SPAN_MS,
} from "../../steps/lb/alb/drainEnd";

// T0 = 10_000 ms, P = 5 s, deadline T0 + 60 s.
const RULE = { startMs: 10_000, propagationMs: 5_000, deadlineMs: 70_000 };

type Look = Omit<DrainObservation, "target"> & { target?: DrainObservation["target"] };

/** Runs the rule over a sequence of looks, as the drain loop does; returns the first verdict that is not `wait`. */
function run(looks: Look[]): DrainVerdict["end"] | "still waiting" {
  let memory: DrainMemory = {};
  for (const look of looks) {
    const verdict = drainStep(RULE, memory, { target: "draining", ...look });
    if (verdict.end !== "wait") return verdict.end;
    memory = verdict.memory;
  }
  return "still waiting";
}

const CASES: Array<[string, Look[], ReturnType<typeof run>]> = [
  // Nothing in flight, both readings after T0 + P and 250 ms apart: the work is over.
  [
    "idle twice after P, 250 ms apart",
    [
      { nowMs: 15_000, connections: 0 },
      { nowMs: 15_250, connections: 0 },
    ],
    "idle",
  ],
  // Idle readings inside the propagation lag prove nothing: the ALB may still send a new request.
  [
    "idle before P only",
    [
      { nowMs: 11_000, connections: 0 },
      { nowMs: 14_999, connections: 0 },
    ],
    "still waiting",
  ],
  // The first reading before P does not count towards the pair; the next two after P do.
  [
    "one idle reading before P, then two after",
    [
      { nowMs: 14_900, connections: 0 },
      { nowMs: 15_100, connections: 0 },
      { nowMs: 15_349, connections: 0 },
      { nowMs: 15_350, connections: 0 },
    ],
    "idle",
  ],
  // Two idle readings closer than 250 ms could both miss a connection being opened between them.
  [
    "two idle readings 249 ms apart",
    [
      { nowMs: 16_000, connections: 0 },
      { nowMs: 16_249, connections: 0 },
    ],
    "still waiting",
  ],
  // A connection between two idle readings restarts the idle run (a held download, a keep-alive).
  [
    "idle, busy, idle: the run restarts",
    [
      { nowMs: 16_000, connections: 0 },
      { nowMs: 16_200, connections: 1 },
      { nowMs: 16_400, connections: 0 },
      { nowMs: 16_600, connections: 0 },
    ],
    "still waiting",
  ],
  // A long upload keeps its connection: the drain waits as long as it lasts.
  [
    "busy throughout",
    [15_000, 20_000, 40_000, 69_999].map((nowMs) => ({ nowMs, connections: 2 })),
    "still waiting",
  ],
  // A reading that failed is never idle: the drain falls back to the target leaving `draining`.
  [
    "connections unreadable",
    [
      { nowMs: 15_000, connections: undefined },
      { nowMs: 16_000, connections: undefined },
    ],
    "still waiting",
  ],
  // The delay is over (unused, or no longer listed): the drain ends as it always did.
  ["target left draining", [{ nowMs: 12_000, connections: 3, target: "gone" }], "unused"],
  // Registered again by someone else: in rotation, so never idle however quiet it is.
  [
    "registered again, quiet",
    [
      { nowMs: 16_000, connections: 0, target: "in-rotation" },
      { nowMs: 17_000, connections: 0, target: "in-rotation" },
    ],
    "still waiting",
  ],
  // Busy until the deadline: the drain fails as it always did.
  ["busy at the deadline", [{ nowMs: 70_000, connections: 1 }], "timeout"],
  // One idle reading at the deadline is not a pair: still a timeout, never an early idle.
  ["first idle reading at the deadline", [{ nowMs: 70_000, connections: 0 }], "timeout"],
  // The pair completes at the deadline: the work is over, idle wins.
  [
    "idle pair completing at the deadline",
    [
      { nowMs: 69_750, connections: 0 },
      { nowMs: 70_000, connections: 0 },
    ],
    "idle",
  ],
];

describe("when an ALB drain may end (steps/lb/alb/drainEnd.ts)", () => {
  it.each(CASES)("%s", (_name, looks, expected) => {
    expect(run(looks)).toBe(expected);
  });

  it("says when the idle run began (the work's end as the node saw it)", () => {
    const first = drainStep(RULE, {}, { nowMs: 15_500, target: "draining", connections: 0 });
    expect(first).toEqual({ end: "wait", memory: { idleSinceMs: 15_500 } });
    if (first.end !== "wait") throw new Error("unreachable");
    expect(drainStep(RULE, first.memory, { nowMs: 16_000, target: "draining", connections: 0 })).toEqual({
      end: "idle",
      idleAtMs: 15_500,
    });
  });
});

describe("the rule's safety, over any sequence of looks (fast-check)", () => {
  // Looks at increasing times (gaps up to 2 s), each with a target state and a reading (or none).
  const looks = fc
    .array(
      fc.record({
        gap: fc.integer({ min: 1, max: 2_000 }),
        target: fc.constantFrom<DrainObservation["target"]>(
          "draining",
          "draining",
          "draining",
          "gone",
          "in-rotation",
        ),
        connections: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      }),
      { maxLength: 60 },
    )
    .map((steps) => {
      let t = RULE.startMs - 1_000;
      return steps.map((step) => ({
        nowMs: (t += step.gap),
        target: step.target,
        connections: step.connections,
      }));
    });

  /** The safety property of a drain rule: throws (fast-check's counterexample) when it does not hold. */
  const checkSafety = (step: typeof drainStep): void =>
    fc.assert(
      fc.property(looks, (sequence) => {
        let memory: DrainMemory = {};
        for (let i = 0; i < sequence.length; i++) {
          const verdict = step(RULE, memory, sequence[i]);
          if (verdict.end === "wait") {
            memory = verdict.memory;
            continue;
          }
          if (verdict.end === "idle") {
            const first = sequence.findIndex((look) => look.nowMs === verdict.idleAtMs);
            const run = sequence.slice(first, i + 1);
            expect(verdict.idleAtMs).toBeGreaterThanOrEqual(RULE.startMs + RULE.propagationMs);
            expect(sequence[i].nowMs - verdict.idleAtMs).toBeGreaterThanOrEqual(MIN_IDLE_SPAN_MS);
            expect(run.every((look) => look.target === "draining" && look.connections === 0)).toBe(true);
          }
          if (verdict.end === "unused") expect(sequence[i].target).toBe("gone");
          if (verdict.end === "timeout") expect(sequence[i].nowMs).toBeGreaterThanOrEqual(RULE.deadlineMs);
          return;
        }
      }),
    );

  it("ends idle only on two idle readings of a draining target, >= 250 ms apart, both after T0 + P, nothing busy between", () => {
    checkSafety(drainStep);
  });

  it("(negative control) a rule that ignores P fails the property", () => {
    expect(() =>
      checkSafety((rule, memory, look) => drainStep({ ...rule, propagationMs: 0 }, memory, look)),
    ).toThrow();
  });
});
