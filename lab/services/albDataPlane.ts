/**
 * The lab ALB's data plane: what moto's ELBv2 lacks (it has no data plane). It holds the targets
 * registered through the lab's ELBv2 API (lab/services/alb.ts), health-checks them with their
 * target group's own settings, routes each listener's requests only to healthy targets (to all
 * registered ones when none is healthy: AWS fails open), keeps connections to targets alive, and
 * drains a deregistered target as the Application Load Balancer guide says:
 * - `draining` at once; new requests may still reach it for `propagationLagMs` (AWS is eventually
 *   consistent); requests in flight finish;
 * - once the lag is over and nothing is in flight the deregistration completes internally (its
 *   connections are closed), yet it is displayed `draining` until `deregistration_delay` elapses;
 *   then it is gone (`unused`, Target.NotRegistered, when asked about by name); whatever is still in
 *   flight at that moment is cut;
 * - slow start: a target that turns healthy while another healthy one is not in slow start gets a
 *   share of requests rising linearly over `slow_start.duration_seconds`.
 * Every request is logged in HAProxy's httplog format (with the client's X-Request-Id in braces), so
 * lab/load/haproxyLog.ts reads the ALB lab's log as it reads HAProxy's. Here: the targets' states
 * (registering, health, draining) and the routing; the health check itself is in albHealthCheck.ts,
 * the log line's format in albAccessLog.ts.
 *
 * What the lab assumes where AWS says nothing it can confirm: a target registered again while
 * draining starts over as a new registration (`initial`, health checks from zero); its requests in
 * flight go on.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { accessLogLine } from "./albAccessLog";
import { CheckResult, healthCheck, REASONS } from "./albHealthCheck";

export type TargetState = "initial" | "healthy" | "unhealthy" | "draining";

/** A target group's settings as DescribeTargetGroups and DescribeTargetGroupAttributes state them. */
export interface TargetGroupSettings {
  name: string;
  healthCheckPath: string;
  /** "traffic-port" or a port number. */
  healthCheckPort: string;
  /** Matcher.HttpCode: "200", "200-299", "200,202". */
  matcher: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  deregistrationDelaySeconds: number;
  slowStartSeconds: number;
}

/** Where a target is reached, and the name its responses and log lines carry. */
export interface TargetAddress {
  host: string;
  port: number;
  name: string;
}

export interface TargetRef {
  id: string;
  port: number;
}

/** One entry of DescribeTargetHealth. */
export interface TargetHealthView {
  id: string;
  port: number;
  healthCheckPort: string;
  state: TargetState | "unused";
  reason?: string;
  description?: string;
}

export interface DataPlaneOptions {
  /**
   * How long a deregistered target may still get new requests, and how long a registration is in
   * progress before the first health check; default 1000 ms.
   */
  propagationLagMs?: number;
  /** The request log (HAProxy httplog format). */
  logPath: string;
  /** Headers set on every request to a target (the lab's identity), replacing the client's. */
  requestHeaders?: Record<string, string>;
  /** The ALB's idle timeout; default 60 s (AWS's default). */
  idleTimeoutSeconds?: number;
}

interface Exchange {
  abort(termination: string): void;
}

interface Target extends TargetRef {
  address: TargetAddress;
  state: TargetState;
  reason?: string;
  description?: string;
  passes: number;
  fails: number;
  /** When it last turned healthy, and whether it then entered slow start. */
  healthySince?: number;
  slowStart: boolean;
  /** Its health when it was deregistered: how requests saw it during the propagation lag. */
  healthBeforeDrain?: TargetState;
  deregisteredAt?: number;
  /** The deregistration completed internally (nothing in flight after the lag). */
  drainCompleted: boolean;
  inFlight: Set<Exchange>;
  agent: http.Agent;
  timers: NodeJS.Timeout[];
  /** Smooth weighted round robin's running weight. */
  current: number;
}

interface Group {
  arn: string;
  settings: TargetGroupSettings;
  targets: Map<string, Target>;
}

const keyOf = (ref: TargetRef): string => `${ref.id}:${ref.port}`;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "host",
]);

export class AlbDataPlane {
  private readonly groups = new Map<string, Group>();
  private readonly listeners = new Map<string, http.Server>();
  private readonly log: fs.WriteStream;
  private readonly lagMs: number;
  private readonly idleMs: number;
  private closed = false;

  constructor(private readonly opts: DataPlaneOptions) {
    this.lagMs = opts.propagationLagMs ?? 1000;
    this.idleMs = (opts.idleTimeoutSeconds ?? 60) * 1000;
    this.log = fs.createWriteStream(opts.logPath, { flags: "a" });
  }

  /** Creates the group, or updates its settings (a ModifyTargetGroup*, read back from the control plane). */
  setGroup(arn: string, settings: TargetGroupSettings): void {
    const group = this.groups.get(arn);
    if (group) group.settings = settings;
    else this.groups.set(arn, { arn, settings, targets: new Map() });
  }

  hasGroup(arn: string): boolean {
    return this.groups.has(arn);
  }

  /** RegisterTargets: each new (or draining) target starts `initial`, its first health check once the registration propagated. */
  register(arn: string, targets: Array<TargetRef & { address: TargetAddress }>): void {
    const group = this.groupOf(arn);
    for (const ref of targets) {
      const existing = group.targets.get(keyOf(ref));
      if (existing && existing.state !== "draining") continue;
      if (existing) {
        this.clearTimers(existing);
        if (existing.drainCompleted) existing.agent = this.targetAgent();
      }
      const target: Target = existing ?? {
        id: ref.id,
        port: ref.port,
        address: ref.address,
        state: "initial",
        passes: 0,
        fails: 0,
        slowStart: false,
        drainCompleted: false,
        inFlight: new Set(),
        agent: this.targetAgent(),
        timers: [],
        current: 0,
      };
      Object.assign(target, {
        state: "initial",
        reason: REASONS.registering[0],
        description: REASONS.registering[1],
        passes: 0,
        fails: 0,
        healthySince: undefined,
        slowStart: false,
        healthBeforeDrain: undefined,
        deregisteredAt: undefined,
        drainCompleted: false,
      });
      group.targets.set(keyOf(ref), target);
      // The registration propagates (Elb.RegistrationInProgress) for the same lag as a deregistration.
      this.scheduleCheck(group, target, this.lagMs);
    }
  }

  /** DeregisterTargets: `draining` at once; a target that is not registered is no error (as on AWS). */
  deregister(arn: string, refs: TargetRef[]): void {
    const group = this.groupOf(arn);
    for (const ref of refs) {
      const target = group.targets.get(keyOf(ref));
      if (!target || target.state === "draining") continue;
      this.clearTimers(target);
      target.healthBeforeDrain = target.state;
      target.state = "draining";
      [target.reason, target.description] = REASONS.draining;
      target.deregisteredAt = Date.now();
      target.timers.push(
        setTimeout(() => this.completeIfIdle(target), this.lagMs),
        setTimeout(() => this.removeDrained(group, target), group.settings.deregistrationDelaySeconds * 1000),
      );
    }
  }

  /** DescribeTargetHealth: the named targets (unused when not registered), or every registered and draining one. */
  describe(arn: string, refs?: TargetRef[]): TargetHealthView[] {
    const group = this.groupOf(arn);
    const hcPort = (t: TargetRef) =>
      group.settings.healthCheckPort === "traffic-port" ? String(t.port) : group.settings.healthCheckPort;
    const view = (t: Target): TargetHealthView => ({
      id: t.id,
      port: t.port,
      healthCheckPort: hcPort(t),
      state: t.state,
      ...(t.reason ? { reason: t.reason, description: t.description } : {}),
    });
    if (refs === undefined || refs.length === 0) return [...group.targets.values()].map(view);
    return refs.map((ref) => {
      const target = group.targets.get(keyOf(ref));
      if (target) return view(target);
      const [reason, description] = REASONS.notRegistered;
      return {
        id: ref.id,
        port: ref.port,
        healthCheckPort: hcPort(ref),
        state: "unused",
        reason,
        description,
      };
    });
  }

  /** A listener on 127.0.0.1:`port` forwarding to the group (CreateListener with a forward action). */
  async listen(listenerArn: string, port: number, arn: string): Promise<string> {
    this.groupOf(arn);
    const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: this.idleMs }, (req, res) =>
      this.forward(arn, port, req, res),
    );
    // The client side's idle timeout (no bytes either way for this long): AWS's idle timeout.
    server.setTimeout(this.idleMs, (socket: Socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.listeners.set(listenerArn, server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async closeListener(listenerArn: string): Promise<void> {
    const server = this.listeners.get(listenerArn);
    this.listeners.delete(listenerArn);
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.listeners.keys()].map((arn) => this.closeListener(arn)));
    for (const group of this.groups.values()) {
      for (const target of group.targets.values()) {
        this.clearTimers(target);
        for (const exchange of target.inFlight) exchange.abort("KD--");
        target.agent.destroy();
      }
    }
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }

  /** Keep-alive to the target, an idle connection closed after the idle timeout (as an ALB does). */
  private targetAgent(): http.Agent {
    return new http.Agent({ keepAlive: true, timeout: this.idleMs });
  }

  private groupOf(arn: string): Group {
    const group = this.groups.get(arn);
    if (!group) throw new Error(`the lab ALB data plane knows no target group ${arn}`);
    return group;
  }

  private clearTimers(target: Target): void {
    for (const timer of target.timers) clearTimeout(timer);
    target.timers = [];
  }

  // ---- health checks ----

  /**
   * Checks start one interval apart, start to start: AWS requires the check timeout below the interval,
   * so a check that times out does not push the next one back, and a failing target is reported within
   * unhealthy threshold x interval + timeout (the bound steps/lb/alb/timing.ts holds the bake to).
   */
  private scheduleCheck(group: Group, target: Target, delayMs: number): void {
    const timer = setTimeout(() => {
      target.timers = target.timers.filter((t) => t !== timer);
      const startedAt = Date.now();
      void healthCheck(group.settings, target.address).then((result) => {
        if (this.closed || target.state === "draining" || group.targets.get(keyOf(target)) !== target) return;
        this.applyCheck(group, target, result);
        const sinceStart = Date.now() - startedAt;
        this.scheduleCheck(group, target, Math.max(0, group.settings.intervalSeconds * 1000 - sinceStart));
      });
    }, delayMs);
    target.timers.push(timer);
  }

  private applyCheck(group: Group, target: Target, result: CheckResult): void {
    const s = group.settings;
    if (result.ok) {
      target.passes += 1;
      target.fails = 0;
      if (target.state !== "healthy" && target.passes >= s.healthyThreshold) {
        // Slow start only when another healthy target is not in slow start (the guide's condition).
        const now = Date.now();
        target.slowStart =
          s.slowStartSeconds > 0 &&
          [...group.targets.values()].some(
            (t) => t !== target && t.state === "healthy" && !this.inSlowStart(group, t, now),
          );
        target.state = "healthy";
        target.healthySince = now;
        target.reason = undefined;
        target.description = undefined;
      } else if (target.state === "initial") {
        [target.reason, target.description] = REASONS.initialChecks;
      }
      return;
    }
    target.fails += 1;
    target.passes = 0;
    if (target.state === "unhealthy" || target.fails >= s.unhealthyThreshold) {
      target.state = "unhealthy";
      target.slowStart = false;
      target.reason = result.reason;
      target.description = result.description;
    } else if (target.state === "initial") {
      [target.reason, target.description] = REASONS.initialChecks;
    }
  }

  private inSlowStart(group: Group, target: Target, now: number): boolean {
    return (
      target.slowStart &&
      target.healthySince !== undefined &&
      now - target.healthySince < group.settings.slowStartSeconds * 1000
    );
  }

  // ---- draining ----

  private completeIfIdle(target: Target): void {
    if (target.state !== "draining" || target.drainCompleted) return;
    if (target.deregisteredAt === undefined || Date.now() - target.deregisteredAt < this.lagMs) return;
    if (target.inFlight.size > 0) return;
    target.drainCompleted = true;
    // Its connections close; it still shows `draining` until the delay is over.
    target.agent.destroy();
  }

  private removeDrained(group: Group, target: Target): void {
    if (group.targets.get(keyOf(target)) !== target || target.state !== "draining") return;
    this.clearTimers(target);
    for (const exchange of target.inFlight) exchange.abort("KD--");
    target.agent.destroy();
    group.targets.delete(keyOf(target));
  }

  // ---- routing ----

  /** The targets a new request may go to now, each with its weight. */
  private routable(group: Group, now: number): Array<{ target: Target; weight: number }> {
    const seen = [...group.targets.values()].flatMap((t) => {
      if (t.state !== "draining") return [{ target: t, healthy: t.state === "healthy" }];
      const lagging = t.deregisteredAt !== undefined && now - t.deregisteredAt < this.lagMs;
      return lagging ? [{ target: t, healthy: t.healthBeforeDrain === "healthy" }] : [];
    });
    const healthy = seen.filter((s) => s.healthy);
    // Fail open: with no healthy target, every registered one gets requests.
    const chosen = healthy.length > 0 ? healthy : seen;
    const slowStartSeconds = group.settings.slowStartSeconds;
    return chosen.map(({ target }) => ({
      target,
      weight:
        healthy.length > 0 && this.inSlowStart(group, target, now) && target.healthySince !== undefined
          ? Math.max(0.01, (now - target.healthySince) / (slowStartSeconds * 1000))
          : 1,
    }));
  }

  /** Smooth weighted round robin (nginx's): even spreading, weights honoured. */
  private pick(group: Group): Target | undefined {
    const candidates = this.routable(group, Date.now());
    if (candidates.length === 0) return undefined;
    let total = 0;
    let best: Target | undefined;
    for (const { target, weight } of candidates) {
      target.current += weight;
      total += weight;
      if (best === undefined || target.current > best.current) best = target;
    }
    if (best) best.current -= total;
    return best;
  }

  private forward(
    arn: string,
    listenerPort: number,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    const acceptedAt = Date.now();
    const group = this.groups.get(arn);
    const requestId = [req.headers["x-request-id"]].flat()[0];
    const client = `${req.socket.remoteAddress ?? "-"}:${req.socket.remotePort ?? 0}`;
    let connectedAt = -1;
    let answeredAt = -1;
    let status = -1;
    let bytes = 0;
    let termination = "----";
    let serverName = "<NOSRV>";
    let finished = false;
    const target = group ? this.pick(group) : undefined;
    const link: { upstream?: http.ClientRequest } = {};

    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (target) {
        target.inFlight.delete(exchange);
        this.completeIfIdle(target);
      }
      const since = (t: number) => (t < 0 ? -1 : t - acceptedAt);
      const timers = `0/0/${since(connectedAt)}/${answeredAt < 0 ? -1 : answeredAt - Math.max(connectedAt, acceptedAt)}/${Date.now() - acceptedAt}`;
      const line = accessLogLine({
        client,
        acceptedAt,
        groupName: group?.settings.name ?? "-",
        serverName,
        timers,
        status,
        bytes,
        termination,
        requestId,
        request: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
      });
      if (!this.closed) this.log.write(line);
    };
    const exchange: Exchange = {
      abort: (code) => {
        if (termination === "----") termination = code;
        link.upstream?.destroy();
        res.destroy();
        finish();
      },
    };
    const answer = (code: number, why: string, term: string): void => {
      termination = term;
      status = code;
      res.writeHead(code, { "content-type": "text/plain", connection: "close" });
      res.end(`${code} ${why}\n`);
    };

    res.on("finish", finish);
    res.on("close", () => {
      if (!res.writableFinished && termination === "----") termination = "CD--";
      link.upstream?.destroy();
      finish();
    });

    if (!target) {
      req.resume();
      answer(503, "Service Temporarily Unavailable", "SC--");
      return;
    }
    const chosen = target;
    serverName = chosen.address.name;
    chosen.inFlight.add(exchange);

    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    }
    const forwardedFor = [req.headers["x-forwarded-for"], req.socket.remoteAddress].flat().filter(Boolean);
    Object.assign(headers, {
      host: `${chosen.address.host}:${chosen.address.port}`,
      "x-forwarded-for": forwardedFor.join(", "),
      "x-forwarded-proto": "http",
      "x-forwarded-port": String(listenerPort),
      "x-amzn-trace-id": `Root=1-${Math.floor(acceptedAt / 1000).toString(16)}-${Math.random().toString(16).slice(2, 14).padEnd(24, "0")}`,
      ...this.opts.requestHeaders,
    });
    const up = http.request({
      host: chosen.address.host,
      port: chosen.address.port,
      method: req.method,
      path: req.url,
      headers,
      agent: chosen.agent,
    });
    link.upstream = up;
    up.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => (connectedAt = Date.now()));
      else connectedAt = Date.now();
    });
    up.setTimeout(this.idleMs, () => up.destroy(new Error("idle timeout")));
    up.on("response", (upRes) => {
      answeredAt = Date.now();
      status = upRes.statusCode ?? 502;
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
      }
      // Lab-only: which target answered (a real ALB sets nothing like it), as the lab's HAProxy does.
      out["x-served-by"] = chosen.address.name;
      res.writeHead(status, out);
      upRes.on("data", (chunk: Buffer) => (bytes += chunk.length));
      upRes.pipe(res);
      upRes.on("aborted", () => exchange.abort("SD--"));
      upRes.on("error", () => exchange.abort("SD--"));
    });
    up.on("error", (error) => {
      if (finished) return;
      if (!res.headersSent) {
        const timedOut = error.message === "idle timeout";
        answer(
          timedOut ? 504 : 502,
          timedOut ? "Gateway Timeout" : "Bad Gateway",
          timedOut ? "sH--" : "SH--",
        );
      } else {
        exchange.abort("SD--");
      }
    });
    req.on("aborted", () => exchange.abort("CD--"));
    req.pipe(up);
  }
}
