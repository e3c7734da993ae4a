/** An ALB target group as a LoadBalancer: every step talks to the ELBv2 API in the ALB's region. */
import type { StepContext } from "../../context";
import type { BakeWatch, LoadBalancer } from "../loadBalancer";
import { albFleetCheck } from "./fleet";
import { albAdmit, albDrain } from "./membership";
import { albTargetHealth } from "./targetGroup";

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
      const health = await albTargetHealth(target);
      return health.healthy ? { errors: 0 } : { errors: 0, problem: `target turned ${health.health}` };
    },
    async takeOut(bounds) {
      await albDrain({ ...target, ...bounds }, ctx);
      return `${target.targetId} is deregistered`;
    },
  };
}

export const albLoadBalancer: LoadBalancer<AlbTarget, AlbFleet> = {
  nodeLabel: (target) => target.targetId,
  alarmRegion: (target) => ({ region: target.region, endpoint: target.endpoint }),
  async checkFleet(fleet, _secrets, ctx) {
    return (await albFleetCheck({ ...fleet, expectedTargetIds: fleet.expected }, ctx)).targets;
  },
  drain(target, bounds, _secrets, ctx) {
    return albDrain({ ...target, ...bounds }, ctx);
  },
  admit(target, bounds, _secrets, ctx) {
    return albAdmit({ ...target, ...bounds }, ctx);
  },
  watch(target, _secrets, ctx, bake) {
    return bake(targetWatch(target, ctx));
  },
};
