/**
 * What an ALB target group's own settings mean for the upgrade (issue 32, item 3): how long each
 * node's drain and admit take, and which settings the stack's timeouts cannot work with. The
 * preflight reads the settings (steps/lb/alb/settings.ts) and refuses on `problems`; the runbook and
 * the summary show `drain` and `admit`. Pure: test/unit/albTiming.test.ts tests it by case table.
 *
 * From the Application Load Balancer guide ("Health checks for your target groups", "Deregistration
 * delay", "Slow start mode"):
 * - a newly registered target is `initial` until it passes `HealthyThresholdCount` consecutive
 *   checks, one every `HealthCheckIntervalSeconds`, each answered within `HealthCheckTimeoutSeconds`;
 *   the first check may come up to one interval after the registration, so the last passing check
 *   ends by threshold x interval + timeout (defaults 5 x 30 s + 5 s);
 * - a deregistered target is shown `draining` until `deregistration_delay.timeout_seconds` elapses
 *   (default 300 s), even when it completed at once internally; a request still in flight then is
 *   ended by the load balancer;
 * - slow start ramps a newly healthy target's share of requests over `slow_start.duration_seconds`:
 *   it starts once the target is healthy, so the admit (which ends at `healthy`) does not wait for it;
 * - a healthy target is reported `unhealthy` only after `UnhealthyThresholdCount` consecutive failed
 *   checks: a target failing from right after a passing check is reported by threshold x interval +
 *   timeout (defaults 2 x 30 s + 5 s). The ALB bake (steps/lb/alb/loadBalancer.ts targetWatch) watches
 *   that report, so a bake window shorter than it may end before a failing node is reported.
 */

/** What the preflight reads from DescribeTargetGroups and DescribeTargetGroupAttributes. */
export interface TargetGroupSettings {
  targetGroupArn: string;
  /** `instance`, `ip`, `lambda` or `alb`. */
  targetType: string;
  deregistrationDelaySeconds: number;
  /** 0: off. */
  slowStartSeconds: number;
  healthCheck: {
    protocol: string;
    path: string;
    /** `traffic-port` or a port number. */
    port: string;
    /** The success codes (`200`, `200-299`). */
    matcher: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    healthyThreshold: number;
    unhealthyThreshold: number;
  };
}

/** The stack's bounds the settings are judged against. */
export interface TimingBounds {
  drainTimeoutSeconds: number;
  healthTimeoutSeconds: number;
  /**
   * With a drain that ends when the node has no connection left (once the load balancer can no
   * longer route to it): how long after the deregistration that may take. Absent: the drain waits
   * until the target leaves `draining`, i.e. the whole delay.
   */
  propagationSeconds?: number;
  /** `bake.windowSeconds` when the bake is on (absent: off): how long the bake watches the target's health. */
  bakeWindowSeconds?: number;
}

/**
 * Beyond threshold x interval + timeout, what an admit is given: the registration reaching the
 * target group's health checkers and the admit's own polling (one DescribeTargetHealth a second).
 * An assumption about AWS (it documents no bound); the lab ALB, whose checks start at once, needs
 * about 1 s of it.
 */
export const ADMIT_MARGIN_SECONDS = 10;

/**
 * Beyond the delay, what a drain that waits for `draining` to end is given: AWS shows `unused` a
 * moment after the delay, and the drain polls once a second.
 */
export const DRAIN_MARGIN_SECONDS = 5;

/** One node's expected time for a step: at most `upToSeconds`, and why. */
export interface ExpectedTime {
  upToSeconds: number;
  text: string;
}

export interface TimingVerdict {
  /** The settings in one line, for the log, the runbook and the preflight's result. */
  settings: string;
  /** Each a refusal that names the values and the fix. */
  problems: string[];
  /** What the operator must know (what drainTimeoutSeconds must cover; slow start; delay 0). */
  notes: string[];
  drain: ExpectedTime;
  admit: ExpectedTime;
}

/** The target type the config implies: instance ids (`i-...`), IPv4 addresses, or undefined (mixed, none). */
export function configuredTargetType(targetIds: readonly string[]): "instance" | "ip" | undefined {
  if (targetIds.length === 0) return undefined;
  if (targetIds.every((id) => /^i-[0-9a-f]+$/.test(id))) return "instance";
  if (targetIds.every((id) => /^[0-9.]+$/.test(id))) return "ip";
  return undefined;
}

/** The longest a new target takes to be reported healthy: threshold x interval + timeout + margin. */
export function admitUpToSeconds(s: TargetGroupSettings): number {
  const h = s.healthCheck;
  return h.healthyThreshold * h.intervalSeconds + h.timeoutSeconds + ADMIT_MARGIN_SECONDS;
}

/**
 * The longest the target group takes to report a target that starts failing right after a passing
 * check as unhealthy: threshold x interval + timeout (the last failed check may take its timeout).
 */
export function unhealthyUpToSeconds(s: TargetGroupSettings): number {
  const h = s.healthCheck;
  return h.unhealthyThreshold * h.intervalSeconds + h.timeoutSeconds;
}

export function describeSettings(s: TargetGroupSettings): string {
  const h = s.healthCheck;
  return (
    `deregistration delay ${s.deregistrationDelaySeconds} s; health checks ${h.protocol} ${h.path} on ${h.port} ` +
    `every ${h.intervalSeconds} s (timeout ${h.timeoutSeconds} s, healthy threshold ${h.healthyThreshold}, ` +
    `unhealthy threshold ${h.unhealthyThreshold}, matcher ${h.matcher}); ` +
    `slow start ${s.slowStartSeconds > 0 ? `${s.slowStartSeconds} s` : "off"}; target type ${s.targetType}`
  );
}

function modifyGroup(s: TargetGroupSettings, options: string): string {
  return `aws elbv2 modify-target-group --target-group-arn ${s.targetGroupArn} ${options}`;
}

function modifyAttribute(s: TargetGroupSettings, key: string, value: string): string {
  return `aws elbv2 modify-target-group-attributes --target-group-arn ${s.targetGroupArn} --attributes Key=${key},Value=${value}`;
}

function targetTypeProblems(s: TargetGroupSettings, targetIds: readonly string[]): string[] {
  const tg = s.targetGroupArn;
  if (s.targetType !== "instance" && s.targetType !== "ip") {
    return [
      `target group ${tg} has target type ${s.targetType}: Glance nodes are registered by EC2 instance id or IP address: point loadBalancer.targetGroupArn at an instance or ip target group`,
    ];
  }
  const configured = configuredTargetType(targetIds);
  if (configured === undefined || configured === s.targetType) return [];
  return configured === "instance"
    ? [
        `target group ${tg} has target type ip, but the config names the nodes by EC2 instance id (nodes[].instanceId), which an ip target group refuses: remove instanceId from every node (the node's address is then its target) or point loadBalancer.targetGroupArn at an instance target group`,
      ]
    : [
        `target group ${tg} has target type instance, but the config names the nodes by IP address (no nodes[].instanceId), which an instance target group refuses: set every node's instanceId or point loadBalancer.targetGroupArn at an ip target group`,
      ];
}

function admitVerdict(
  s: TargetGroupSettings,
  bounds: TimingBounds,
): { problems: string[]; admit: ExpectedTime } {
  const h = s.healthCheck;
  const upTo = admitUpToSeconds(s);
  const why = `${h.healthyThreshold} passing checks x ${h.intervalSeconds} s + ${h.timeoutSeconds} s check timeout + ${ADMIT_MARGIN_SECONDS} s margin`;
  const problems =
    bounds.healthTimeoutSeconds >= upTo
      ? []
      : [
          `loadBalancer.healthTimeoutSeconds = ${bounds.healthTimeoutSeconds}, but target group ${s.targetGroupArn} may take up to ${upTo} s to report a new target healthy (${why}), so an admit could time out and halt the upgrade with a sound node out of rotation: raise healthTimeoutSeconds to at least ${upTo}, or make the checks faster (${modifyGroup(s, `--health-check-interval-seconds 10 --healthy-threshold-count 3`)} needs ${3 * 10 + h.timeoutSeconds + ADMIT_MARGIN_SECONDS} s)`,
        ];
  const slow =
    s.slowStartSeconds > 0
      ? `; then slow start ramps its share of requests over ${s.slowStartSeconds} s`
      : "";
  return { problems, admit: { upToSeconds: upTo, text: `up to ${upTo} s (${why})${slow}` } };
}

function drainVerdict(
  s: TargetGroupSettings,
  bounds: TimingBounds,
): { problems: string[]; notes: string[]; drain: ExpectedTime } {
  const delay = s.deregistrationDelaySeconds;
  const timeout = bounds.drainTimeoutSeconds;
  const p = bounds.propagationSeconds;
  if (p === undefined) {
    // The drain returns when the target leaves `draining`: on AWS the whole delay, every node.
    const needed = delay + DRAIN_MARGIN_SECONDS;
    const problems =
      timeout >= needed
        ? []
        : [
            `loadBalancer.drainTimeoutSeconds = ${timeout}, but target group ${s.targetGroupArn} shows a deregistered target as draining for its whole deregistration delay (${delay} s) whatever is in flight, and the drain waits for that, so every drain would time out: raise drainTimeoutSeconds to at least ${needed}, or lower the delay to what your longest request needs (${modifyAttribute(s, "deregistration_delay.timeout_seconds", "N")})`,
          ];
    return {
      problems,
      notes: [
        `each drain waits the group's whole deregistration delay (${delay} s: the target shows draining until it elapses, whatever is in flight); drainTimeoutSeconds (${timeout}) must cover it, and the delay must cover the longest request you expect in flight (the ALB ends a request still running when it elapses)`,
      ],
      drain: {
        upToSeconds: needed,
        text: `${needed} s: the deregistration delay (${delay} s; the target shows draining until it elapses) + ${DRAIN_MARGIN_SECONDS} s`,
      },
    };
  }
  const upTo = Math.min(delay, timeout);
  const problems =
    timeout > p
      ? []
      : [
          `loadBalancer.drainTimeoutSeconds = ${timeout}, but a drain cannot end before the ${p} s the ALB may still route new requests to a target of ${s.targetGroupArn} after its deregistration (propagationSeconds): raise drainTimeoutSeconds above ${p} by the longest request you expect in flight`,
        ];
  const notes = [
    `drainTimeoutSeconds (${timeout}) must cover the longest request you expect in flight plus ${p} s (propagationSeconds), not the deregistration delay: a drain ends once the node has no connection left; the delay (${delay} s) must cover that request too, since the ALB ends a request still running when it elapses`,
  ];
  if (timeout < delay + DRAIN_MARGIN_SECONDS) {
    notes.push(
      `a drain that cannot end early (the node's connections unreadable, or an idle keep-alive the ALB holds) waits for the delay (${delay} s) and halts at drainTimeoutSeconds (${timeout}) with the node out of rotation and the fleet serving`,
    );
  }
  return {
    problems,
    notes,
    drain: {
      upToSeconds: upTo,
      text: `${p} s + what is in flight when it leaves rotation, at most ${upTo} s (${timeout <= delay ? "drainTimeoutSeconds" : "the deregistration delay"})`,
    },
  };
}

/**
 * The ALB bake fails on target health only once the group reports the target unhealthy: a window
 * shorter than that report may pass a node failing from its admission, and the bake's "stayed
 * healthy" would say what it could not see. Refused, like the bounds the checks cannot meet.
 */
function bakeVerdict(s: TargetGroupSettings, bounds: TimingBounds): { problems: string[]; notes: string[] } {
  const window = bounds.bakeWindowSeconds;
  if (window === undefined || window === 0) return { problems: [], notes: [] };
  const h = s.healthCheck;
  const upTo = unhealthyUpToSeconds(s);
  const why = `${h.unhealthyThreshold} failed checks x ${h.intervalSeconds} s + ${h.timeoutSeconds} s check timeout`;
  if (window >= upTo) {
    return {
      problems: [],
      notes: [
        `the bake watches each admitted target's health as the group reports it: a node failing from its admission is reported unhealthy within ${upTo} s (${why}), inside bake.windowSeconds (${window})`,
      ],
    };
  }
  // A faster check the fix may suggest: every 10 s, 2 failures (AWS wants the timeout below the interval).
  const faster = 2 * 10 + h.timeoutSeconds;
  const checks =
    h.timeoutSeconds < 10 && faster < upTo && faster <= window
      ? `, or make the checks report sooner (${modifyGroup(s, `--health-check-interval-seconds 10 --unhealthy-threshold-count 2`)} reports within ${faster} s)`
      : "";
  return {
    problems: [
      `bake.windowSeconds = ${window}, but target group ${s.targetGroupArn} may take up to ${upTo} s to report a failing target unhealthy (${why}), and the ALB bake fails on target health only once the group reports it, so a node failing from its admission could pass its bake: raise bake.windowSeconds to at least ${upTo}${checks}`,
    ],
    notes: [],
  };
}

/** The target group's settings against the stack's bounds and the nodes' target ids. */
export function judgeTargetGroup(
  s: TargetGroupSettings,
  bounds: TimingBounds,
  targetIds: readonly string[],
): TimingVerdict {
  const admit = admitVerdict(s, bounds);
  const drain = drainVerdict(s, bounds);
  const bake = bakeVerdict(s, bounds);
  const notes = [...drain.notes, ...bake.notes];
  if (s.deregistrationDelaySeconds === 0) {
    notes.push(
      `WARNING: target group ${s.targetGroupArn} has a deregistration delay of 0 s: the ALB does not wait for requests in flight when a target leaves, so a drain cannot protect them; set it to the longest request you expect (${modifyAttribute(s, "deregistration_delay.timeout_seconds", "N")})`,
    );
  }
  if (s.slowStartSeconds > 0) {
    notes.push(
      `slow start ${s.slowStartSeconds} s: an admitted node takes its full share of requests only ${s.slowStartSeconds} s after it turns healthy, and the next wave may drain before that (bake.windowSeconds >= ${s.slowStartSeconds} waits it out)`,
    );
  }
  return {
    settings: describeSettings(s),
    problems: [...targetTypeProblems(s, targetIds), ...drain.problems, ...admit.problems, ...bake.problems],
    notes,
    drain: drain.drain,
    admit: bounds.propagationSeconds === undefined ? admit.admit : afterEarlyDrain(admit.admit, s),
  };
}

/**
 * An admit after a drain that ended early first waits for the target to leave `draining` (it shows
 * `draining` until the delay since its deregistration is over; membership.ts waitOutOfDraining),
 * then for its health checks: at most the whole delay more, when the node came back at once.
 */
function afterEarlyDrain(admit: ExpectedTime, s: TargetGroupSettings): ExpectedTime {
  const delay = s.deregistrationDelaySeconds;
  if (delay === 0) return admit;
  const upTo = admit.upToSeconds + delay;
  return {
    upToSeconds: upTo,
    text: `up to ${upTo} s: first the rest of the ${delay} s deregistration delay (an early-ended drain leaves the target draining until it is over, and it is registered again only then), then ${admit.text}`,
  };
}
