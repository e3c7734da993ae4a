/**
 * A third kind of load balancer that exists only in tests: an in-memory pool of members, each in or
 * out of rotation. It records every call, so a test can see that a step reached it.
 */
import { StepError } from "../../../steps/context";
import { mayLeaveRotation } from "../../../steps/lb/capacity";
import type { BakeWatch, Drained, LoadBalancer } from "../../../steps/lb/loadBalancer";

export type FakeTarget = { type: "fake"; pool: string; member: string };
export type FakeFleet = { type: "fake"; pool: string; expected: string[] };

export interface FakeLoadBalancer extends LoadBalancer<FakeTarget, FakeFleet> {
  /** Each member's place: true while in rotation. */
  readonly inRotation: Map<string, boolean>;
  /** "drain pool/m2", "admit pool/m2", "fleet pool", ... in call order. */
  readonly calls: string[];
}

export function fakeLoadBalancer(members: string[]): FakeLoadBalancer {
  const inRotation = new Map(members.map((m) => [m, true]));
  const calls: string[] = [];
  const takeOut = (member: string): Drained => {
    const alreadyOut = inRotation.get(member) === false;
    inRotation.set(member, false);
    return { drainSeconds: 0, alreadyOut };
  };
  const watch = (target: FakeTarget): BakeWatch => ({
    terms: () => " (fake: it must stay in rotation)",
    read: async () => (inRotation.get(target.member) ? { errors: 0 } : { errors: 0, problem: "it left" }),
    takeOut: async () => {
      calls.push(`take out ${target.pool}/${target.member}`);
      takeOut(target.member);
      return `${target.member} is out of the fake pool`;
    },
  });
  return {
    inRotation,
    calls,
    nodeLabel: (target) => target.member,
    alarmRegion: () => ({}),
    async checkFleet(fleet, _secrets, ctx) {
      calls.push(`fleet ${fleet.pool}`);
      const inPool = [...inRotation].filter(([, inside]) => inside).map(([member]) => member);
      if (inPool.join() !== fleet.expected.join())
        throw new StepError(
          `fake pool ${fleet.pool} has ${inPool.join(", ")}, not ${fleet.expected.join(", ")}`,
        );
      ctx.log(`fake pool ${fleet.pool}: ${inPool.length} members`);
      return inPool;
    },
    async drain(target, bounds, _secrets, ctx) {
      calls.push(`drain ${target.pool}/${target.member} minHealthy=${bounds.minHealthy}`);
      // The capacity decision every kind shares (steps/lb/capacity.ts), on the fake pool.
      const pool = [...inRotation].map(([name, inside]) => ({
        name,
        state: inside ? ("serving" as const) : ("maint" as const),
      }));
      const decision = mayLeaveRotation(pool, target.member, bounds.minHealthy);
      if (!decision.mayLeave && inRotation.get(target.member))
        throw new StepError(`refusing to drain ${target.member}: ${decision.reason}`);
      ctx.log(`fake drain of ${target.member}`);
      return takeOut(target.member);
    },
    async admit(target, _bounds, _secrets, ctx) {
      calls.push(`admit ${target.pool}/${target.member}`);
      ctx.log(`fake admit of ${target.member}`);
      inRotation.set(target.member, true);
      return { admitSeconds: 0 };
    },
    async watch(target, _secrets, _ctx, bake) {
      calls.push(`watch ${target.pool}/${target.member}`);
      return bake(watch(target));
    },
  };
}
