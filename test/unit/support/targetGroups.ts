/**
 * An ALB target group's settings as steps/lb/alb/timing.ts reads them, for the unit tests that judge
 * them: one place for AWS's defaults, so each test names only the numbers it is about.
 */
import type { TargetGroupSettings } from "../../../steps/lb/alb/timing";

/**
 * AWS's defaults for a new group (delay 300 s, checks HTTP /healthcheck every 30 s, timeout 5 s,
 * healthy 5, unhealthy 2, slow start off), with the delay and check numbers given overriding them.
 */
export function targetGroupSettings(
  targetGroupArn: string,
  overrides: {
    deregistrationDelaySeconds?: number;
    healthCheck?: Partial<TargetGroupSettings["healthCheck"]>;
  } = {},
): TargetGroupSettings {
  return {
    targetGroupArn,
    targetType: "instance",
    deregistrationDelaySeconds: overrides.deregistrationDelaySeconds ?? 300,
    slowStartSeconds: 0,
    healthCheck: {
      protocol: "HTTP",
      path: "/healthcheck",
      port: "traffic-port",
      matcher: "200",
      intervalSeconds: 30,
      timeoutSeconds: 5,
      healthyThreshold: 5,
      unhealthyThreshold: 2,
      ...overrides.healthCheck,
    },
  };
}
