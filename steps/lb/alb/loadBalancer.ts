/** An ALB target group as a LoadBalancer: every step talks to the ELBv2 API in the ALB's region. */
import { StepContext, StepError } from "../../context";
import type { BakeWatch, LoadBalancer } from "../loadBalancer";

// The ELBv2 steps are loaded on first use: the AWS SDK takes 0.2-0.4 s to load, and the provider
// process that runs every step would pay it before its first step even when no step is an ALB's.
const fleet = () => import("./fleet");
const membership = () => import("./membership");
const targetGroup = () => import("./targetGroup");
const settings = () => import("./settings");
const timing = () => import("./timing");

/** One node as a step request carries it: a target (instance id or IP address) in the target group. */
export type AlbTarget = {
  type: "alb";
  targetGroupArn: string;
  targetId: string;
  port: number;
  region?: string;
  endpoint?: string;
};

/** The fleet as a step request carries it: the targets the group must have, all healthy. */
export type AlbFleet = {
  type: "alb";
  targetGroupArn: string;
  expected: string[];
  region?: string;
  endpoint?: string;
};

/** The bake's view of the target: it must stay healthy (the ALB counts no errors per target). */
function targetWatch(target: AlbTarget, ctx: StepContext): BakeWatch {
  return {
    terms: (_errorBudget, withAlarms) =>
      `: it must stay healthy${withAlarms ? " and its CloudWatch alarms out of ALARM" : ""}`,
    async read() {
      const health = await (await targetGroup()).albTargetHealth(target);
      return health.healthy ? { errors: 0 } : { errors: 0, problem: `target turned ${health.health}` };
    },
    async takeOut(bounds) {
      try {
        await (await membership()).albDrain({ ...target, ...bounds }, ctx);
      } catch (error) {
        // Out of rotation, only still shown `draining` (until the group's delay is over, which the
        // take-out's bound may not cover): where a failed bake leaves the node, as it should.
        if (!(error instanceof StepError) || error.reason !== "DrainTimeout") throw error;
        return `${target.targetId} is deregistered (still draining after ${bounds.drainTimeoutSeconds} s: the ALB lets its requests in flight finish within the group's deregistration delay)`;
      }
      return `${target.targetId} is deregistered`;
    },
  };
}

export const albLoadBalancer: LoadBalancer<AlbTarget, AlbFleet> = {
  nodeLabel: (target) => target.targetId,
  alarmRegion: (target) => ({ region: target.region, endpoint: target.endpoint }),
  async readSettings(fleetArgs, bounds, _secrets, ctx) {
    const read = await (await settings()).readTargetGroupSettings(fleetArgs);
    const verdict = (await timing()).judgeTargetGroup(read, bounds, fleetArgs.expected);
    ctx.log(`target group ${fleetArgs.targetGroupArn}: ${verdict.settings}`);
    return verdict;
  },
  async checkFleet(fleetArgs, _secrets, ctx) {
    const { albFleetCheck } = await fleet();
    return (await albFleetCheck({ ...fleetArgs, expectedTargetIds: fleetArgs.expected }, ctx)).targets;
  },
  async drain(target, bounds, _secrets, ctx) {
    return (await membership()).albDrain({ ...target, ...bounds }, ctx);
  },
  async admit(target, bounds, _secrets, ctx) {
    return (await membership()).albAdmit({ ...target, ...bounds }, ctx);
  },
  watch(target, _secrets, ctx, bake) {
    return bake(targetWatch(target, ctx));
  },
};
