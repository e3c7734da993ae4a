/**
 * The lab ALB's health check of one target, as an ALB makes it: GET the group's health-check path on
 * the target (or the group's health-check port), as `ELB-HealthChecker/2.0`, on a fresh connection;
 * healthy when the answer's code satisfies the group's matcher within its timeout. The reasons and
 * descriptions are those DescribeTargetHealth shows.
 */
import * as http from "node:http";
import type { TargetAddress, TargetGroupSettings } from "./albDataPlane";

export const REASONS = {
  registering: ["Elb.RegistrationInProgress", "Target registration is in progress"],
  initialChecks: ["Elb.InitialHealthChecking", "Initial health checks in progress"],
  failed: ["Target.FailedHealthChecks", "Health checks failed"],
  timeout: ["Target.Timeout", "Request timed out"],
  draining: ["Target.DeregistrationInProgress", "Target deregistration is in progress"],
  notRegistered: ["Target.NotRegistered", "Target is not registered to the target group"],
} as const;

export type CheckResult = { ok: true } | { ok: false; reason: string; description: string };

/** Does `code` satisfy a Matcher.HttpCode ("200", "200-299", "200,202")? */
export function matcherAccepts(matcher: string, code: number): boolean {
  return matcher.split(",").some((part) => {
    const [low, high] = part.trim().split("-").map(Number);
    return high === undefined ? code === low : code >= low && code <= high;
  });
}

/** One health check of the target at `address` with the group's settings `s`. */
export function healthCheck(s: TargetGroupSettings, address: TargetAddress): Promise<CheckResult> {
  const port = s.healthCheckPort === "traffic-port" ? address.port : Number(s.healthCheckPort);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = http.get(
      {
        host: address.host,
        port,
        path: s.healthCheckPath,
        agent: false,
        headers: { "user-agent": "ELB-HealthChecker/2.0" },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          const code = res.statusCode ?? 0;
          done(
            matcherAccepts(s.matcher, code)
              ? { ok: true }
              : {
                  ok: false,
                  reason: "Target.ResponseCodeMismatch",
                  description: `Health checks failed with these codes: [${code}]`,
                },
          );
        });
        res.on("error", () => done({ ok: false, reason: REASONS.failed[0], description: REASONS.failed[1] }));
      },
    );
    const timer = setTimeout(() => {
      done({ ok: false, reason: REASONS.timeout[0], description: REASONS.timeout[1] });
      req.destroy();
    }, s.timeoutSeconds * 1000);
    req.on("error", () => done({ ok: false, reason: REASONS.failed[0], description: REASONS.failed[1] }));
  });
}
