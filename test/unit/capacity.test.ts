/**
 * The capacity decision (steps/lb/capacity.ts) by table, as Kubernetes tests its rolling decision:
 * one row per fleet state, one comment per row saying why the answer is right.
 */
import { describe, expect, it } from "vitest";
import { CapacityReason, FleetMember, mayLeaveRotation, TargetState } from "../../steps/lb/capacity";
import { worstDecision } from "../../steps/lb/takeOut";
import { targetState } from "../../steps/lb/haproxy/drain";
import { albCapacity } from "../../steps/lb/alb/membership";
import type {
  TargetHealthDescription,
  TargetHealthStateEnum,
} from "@aws-sdk/client-elastic-load-balancing-v2";

/** "n1=serving n2=down" as fleet members. */
function fleet(text: string): FleetMember[] {
  return text.split(" ").map((pair) => {
    const [name, state] = pair.split("=");
    return { name, state: state as TargetState };
  });
}

const cases: Array<{
  comment: string;
  fleet: string;
  node: string;
  minHealthy: number;
  mayLeave: boolean;
  reason: CapacityReason;
  servingOthers: string[];
}> = [
  {
    comment: "all four serve: three stay, minHealthy 2 holds",
    fleet: "n1=serving n2=serving n3=serving n4=serving",
    node: "n1",
    minHealthy: 2,
    mayLeave: true,
    reason: "EnoughServing",
    servingOthers: ["n2", "n3", "n4"],
  },
  {
    comment: "finding 7 before the first drain: one down, two others serve, exactly minHealthy",
    fleet: "n1=serving n2=serving n3=serving n4=down",
    node: "n1",
    minHealthy: 2,
    mayLeave: true,
    reason: "EnoughServing",
    servingOthers: ["n2", "n3"],
  },
  {
    comment: "finding 7 after the first drain: n1 draining, n4 down, only n3 would serve",
    fleet: "n1=draining n2=serving n3=serving n4=down",
    node: "n2",
    minHealthy: 2,
    mayLeave: false,
    reason: "TooFewServing",
    servingOthers: ["n3"],
  },
  {
    comment: "asked again once n1 itself left: its own state does not count, the others do",
    fleet: "n1=draining n2=serving n3=serving n4=down",
    node: "n1",
    minHealthy: 2,
    mayLeave: true,
    reason: "EnoughServing",
    servingOthers: ["n2", "n3"],
  },
  {
    comment: "both drains of the wave left: each, asked again, sees one other serving",
    fleet: "n1=draining n2=draining n3=serving n4=down",
    node: "n1",
    minHealthy: 2,
    mayLeave: false,
    reason: "TooFewServing",
    servingOthers: ["n3"],
  },
  {
    comment: "a server in maint serves nothing: it is not counted",
    fleet: "n1=serving n2=maint n3=serving",
    node: "n1",
    minHealthy: 2,
    mayLeave: false,
    reason: "TooFewServing",
    servingOthers: ["n3"],
  },
  {
    comment: "a node already down is held to the same rule: keeping it out costs what its return would give",
    fleet: "n1=down n2=serving n3=down",
    node: "n1",
    minHealthy: 2,
    mayLeave: false,
    reason: "TooFewServing",
    servingOthers: ["n2"],
  },
  {
    comment: "a rerun of a drain cut short (node draining) still needs the others",
    fleet: "n1=draining n2=serving",
    node: "n1",
    minHealthy: 1,
    mayLeave: true,
    reason: "EnoughServing",
    servingOthers: ["n2"],
  },
  {
    comment: "minHealthy 0: the operator accepts none serving",
    fleet: "n1=serving n2=down",
    node: "n1",
    minHealthy: 0,
    mayLeave: true,
    reason: "EnoughServing",
    servingOthers: [],
  },
  {
    comment: "the last serving node with minHealthy 1: it must stay",
    fleet: "n1=serving n2=draining n3=down",
    node: "n1",
    minHealthy: 1,
    mayLeave: false,
    reason: "TooFewServing",
    servingOthers: [],
  },
  {
    comment: "a node the load balancer does not hold: nothing to decide, refuse",
    fleet: "n1=serving n2=serving",
    node: "n9",
    minHealthy: 0,
    mayLeave: false,
    reason: "UnknownNode",
    servingOthers: ["n1", "n2"],
  },
];

describe("mayLeaveRotation", () => {
  it.each(cases)("$comment", (c) => {
    expect(mayLeaveRotation(fleet(c.fleet), c.node, c.minHealthy)).toEqual({
      mayLeave: c.mayLeave,
      reason: c.reason,
      servingOthers: c.servingOthers,
      minHealthy: c.minHealthy,
    });
  });

  it("never allows a take-out that leaves fewer than minHealthy others serving (every fleet of 4)", () => {
    const states: TargetState[] = ["serving", "draining", "down", "maint"];
    let allowed = 0;
    let refused = 0;
    for (let code = 0; code < 4 ** 4; code++) {
      const members = [0, 1, 2, 3].map((i) => ({
        name: `n${i}`,
        state: states[Math.floor(code / 4 ** i) % 4],
      }));
      for (const minHealthy of [0, 1, 2, 3]) {
        const d = mayLeaveRotation(members, "n0", minHealthy);
        const others = members.filter((m) => m.name !== "n0" && m.state === "serving").length;
        expect(d.mayLeave).toBe(others >= minHealthy);
        if (d.mayLeave) allowed++;
        else refused++;
      }
    }
    // Both answers occur: the property is not vacuous.
    expect([allowed > 0, refused > 0]).toEqual([true, true]);
  });
});

describe("worstDecision", () => {
  const on = (text: string, minHealthy = 2) => mayLeaveRotation(fleet(text), "n1", minHealthy);
  it.each([
    {
      // every instance allows: the one that leaves the fewest serving is what the message names
      decisions: [on("n1=serving n2=serving n3=serving n4=serving"), on("n1=serving n2=serving n3=serving")],
      worst: 1,
    },
    {
      // one instance refuses: it decides, whatever the others say
      decisions: [on("n1=serving n2=serving n3=serving"), on("n1=serving n2=serving n3=down")],
      worst: 1,
    },
    {
      // a single view (an ALB) is its own worst
      decisions: [on("n1=serving n2=down")],
      worst: 0,
    },
  ])("picks view $worst", ({ decisions, worst }) => {
    expect(worstDecision(decisions)).toBe(worst);
  });
});

/**
 * Every kind maps its own states onto the one decision above (HAProxy's drain, the ALB's drain and
 * its check after leaving both call mayLeaveRotation): each row one state, and why it counts so.
 */
describe("each kind's states, as the shared decision sees them", () => {
  it.each([
    // only UP takes new requests
    { status: "UP", state: "serving" },
    // weight 0: persistent connections only, no new requests
    { status: "DRAIN", state: "draining" },
    // a server HAProxy does not balance to
    { status: "NOLB", state: "draining" },
    // maintenance, by the runtime API or by a tracked server
    { status: "MAINT", state: "maint" },
    { status: "MAINT (via glance/n1)", state: "maint" },
    // failing its checks while still in rotation
    { status: "DOWN", state: "down" },
    { status: "DOWN 1/2", state: "down" },
    // going down: not counted as serving however close it is
    { status: "UP 1/3", state: "down" },
  ])("HAProxy $status is $state", ({ status, state }) => {
    expect(
      targetState({
        server: "n1",
        status,
        scur: 0,
        weight: 1,
        checkStatus: "",
        hrsp5xx: 0,
        eresp: 0,
        econ: 0,
      }),
    ).toBe(state);
  });

  const ref = { targetGroupArn: "arn:tg", targetId: "i-1", port: 9292, minHealthy: 1 };
  const target = (id: string, state: TargetHealthStateEnum): TargetHealthDescription => ({
    Target: { Id: id, Port: 9292 },
    TargetHealth: { State: state },
  });
  it.each([
    // the other target healthy: one serves, minHealthy 1 holds
    { group: [target("i-1", "healthy"), target("i-2", "healthy")], mayLeave: true, servingOthers: ["i-2"] },
    // the other one still registering (initial): not serving yet
    { group: [target("i-1", "healthy"), target("i-2", "initial")], mayLeave: false, servingOthers: [] },
    // the other one unhealthy: not serving
    { group: [target("i-1", "healthy"), target("i-2", "unhealthy")], mayLeave: false, servingOthers: [] },
    // the other one draining: out already
    { group: [target("i-1", "healthy"), target("i-2", "draining")], mayLeave: false, servingOthers: [] },
    // asked again once i-1 left (it may no longer be listed): still the node asked about, the other counts
    { group: [target("i-2", "healthy")], mayLeave: true, servingOthers: ["i-2"] },
  ])("ALB: $servingOthers serving, mayLeave $mayLeave", ({ group, mayLeave, servingOthers }) => {
    expect(albCapacity(group, ref)).toMatchObject({ mayLeave, servingOthers });
  });
});
