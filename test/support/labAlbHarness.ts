/**
 * For the lab ALB's tests: the lab ALB (moto + data plane) with a VPC and a load balancer, target
 * groups made through the AWS SDK, and HTTP backends on loopback addresses (127.0.0.N: moto keys an
 * ip target by its id alone, so each backend has an address of its own) whose health and requests
 * the tests control and count.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  TargetHealthDescription,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { HaproxyLogLine, readHaproxyLog } from "../../lab/load/haproxyLog";
import { LAB_ALB_REGION, RunningLabAlb, startLabAlb } from "../../lab/services/alb";
import { createGroupWithListener, createLoadBalancer } from "../../lab/services/albSetup";

export interface Backend {
  host: string;
  port: number;
  /** What the health-check path answers; "hang" never answers. */
  health: number | "hang";
  /** Requests other than health checks: path and X-Request-Id, in order. */
  requests: Array<{ path: string; requestId?: string; at: number }>;
  /** Connections the ALB opened for requests (health checks excluded), and how many are open now. */
  connectionsOpened: number;
  openConnections: Set<Socket>;
  /** Health checks answered. */
  checks: number;
  /** When each health check arrived (ms since the epoch). */
  checkTimes: number[];
  stop(): Promise<void>;
}

let nextHost = 10;

/**
 * A backend on 127.0.0.N: `healthPath` answers `health`; `/slow?ms=N` streams for N ms; `/die`
 * sends headers and part of a body, then destroys the connection; anything else answers 200.
 */
export async function startBackend(healthPath = "/healthcheck", sameHostAs?: Backend): Promise<Backend> {
  const host = sameHostAs?.host ?? `127.0.0.${nextHost++}`;
  const backend: Backend = {
    host,
    port: 0,
    health: 200,
    requests: [],
    connectionsOpened: 0,
    openConnections: new Set(),
    checks: 0,
    checkTimes: [],
    stop: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === healthPath) {
      backend.checks += 1;
      backend.checkTimes.push(Date.now());
      if (backend.health === "hang") return;
      res.writeHead(backend.health).end("health\n");
      return;
    }
    backend.requests.push({
      path: url.pathname,
      requestId: [req.headers["x-request-id"]].flat()[0],
      at: Date.now(),
    });
    if (!req.headers["user-agent"]?.startsWith("ELB-HealthChecker")) {
      const socket = req.socket;
      if (!backend.openConnections.has(socket)) {
        backend.connectionsOpened += 1;
        backend.openConnections.add(socket);
        socket.once("close", () => backend.openConnections.delete(socket));
      }
    }
    req.resume();
    if (url.pathname === "/slow") {
      const ms = Number(url.searchParams.get("ms") ?? "1000");
      res.writeHead(200, { "content-type": "text/plain" });
      const timer = setInterval(() => res.write("x".repeat(1024)), 100);
      setTimeout(() => {
        clearInterval(timer);
        res.end("done\n");
      }, ms);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if (url.pathname === "/die") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "100000" });
      res.write("partial");
      setTimeout(() => req.socket.destroy(), 50);
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(`ok from ${host}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  backend.port = (server.address() as AddressInfo).port;
  backend.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return backend;
}

export interface GroupSettings {
  deregistrationDelaySeconds?: number;
  slowStartSeconds?: number;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  healthCheckPath?: string;
  healthCheckPort?: string;
  matcher?: string;
}

export interface LabAlbHarness {
  alb: RunningLabAlb;
  /** An SDK client on the lab ALB's ELBv2 API (the proxy), as the program has. */
  elbv2: ElasticLoadBalancingV2Client;
  /** A target group (settings as given, else interval 5 s, thresholds 2, timeout 2 s, delay 30 s) with a listener; its ARN and URL. */
  newGroup(settings?: GroupSettings): Promise<{ arn: string; url: string }>;
  /** DescribeTargetHealth through the SDK: filtered by `targets`, or every target. */
  health(arn: string, targets?: Backend[]): Promise<TargetHealthDescription[]>;
  stop(): Promise<void>;
}

export const targetOf = (b: Backend) => ({ Id: b.host, Port: b.port });

export async function startLabAlbHarness(opts: { propagationLagMs?: number } = {}): Promise<LabAlbHarness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-alb-"));
  const alb = await startLabAlb({ dir, propagationLagMs: opts.propagationLagMs });
  const elbv2 = new ElasticLoadBalancingV2Client({
    region: LAB_ALB_REGION,
    endpoint: alb.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const lb = await createLoadBalancer(alb.motoEndpoint, elbv2, "lab-alb");
  let groups = 0;
  return {
    alb,
    elbv2,
    async newGroup(s = {}) {
      groups += 1;
      const { targetGroupArn, listenerPort } = await createGroupWithListener(elbv2, lb, {
        name: `lab-${groups}`,
        targetType: "ip",
        healthCheckPath: s.healthCheckPath ?? "/healthcheck",
        healthCheckPort: s.healthCheckPort ?? "traffic-port",
        intervalSeconds: s.intervalSeconds ?? 5,
        timeoutSeconds: s.timeoutSeconds ?? 2,
        healthyThreshold: s.healthyThreshold ?? 2,
        unhealthyThreshold: s.unhealthyThreshold ?? 2,
        matcher: s.matcher ?? "200",
        attributes: {
          "deregistration_delay.timeout_seconds": s.deregistrationDelaySeconds ?? 30,
          "slow_start.duration_seconds": s.slowStartSeconds ?? 0,
        },
      });
      return { arn: targetGroupArn, url: `http://127.0.0.1:${listenerPort}` };
    },
    async health(arn, targets) {
      const out = await elbv2.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: targets?.map(targetOf) }),
      );
      return out.TargetHealthDescriptions ?? [];
    },
    async stop() {
      elbv2.destroy();
      await alb.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One GET through the ALB, on a fresh connection; resolves with the status, X-Served-By and body. */
export function get(
  url: string,
  requestPath = "/",
  requestId?: string,
): Promise<{ status: number; servedBy?: string; body: string; error?: string; endedAt: number }> {
  return new Promise((done) => {
    const resolve = (r: { status: number; servedBy?: string; body: string; error?: string }) =>
      done({ ...r, endedAt: Date.now() });
    const req = http.get(
      `${url}${requestPath}`,
      { agent: false, headers: requestId ? { "x-request-id": requestId } : {} },
      (res) => {
        let body = "";
        const servedBy = [res.headers["x-served-by"]].flat()[0];
        const status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status, servedBy, body }));
        res.on("error", (e) => resolve({ status, servedBy, body, error: e.message }));
        res.on("aborted", () => resolve({ status, servedBy, body, error: "aborted" }));
      },
    );
    req.on("error", (e) => resolve({ status: 0, body: "", error: e.message }));
  });
}

/** Polls DescribeTargetHealth until `want` holds for `backend`; returns the seconds it took. */
export async function waitState(
  h: LabAlbHarness,
  arn: string,
  backend: Backend,
  want: string,
  timeoutMs = 20_000,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    const [d] = await h.health(arn, [backend]);
    if (d?.TargetHealth?.State === want) return (Date.now() - start) / 1000;
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `${backend.host} still ${JSON.stringify(d?.TargetHealth)} after ${timeoutMs} ms, not ${want}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The request log's lines for which `pick` holds, once there are `count` of them (or after 3 s): a
 * line is written when its response has been sent, so the file may get it a moment after the client.
 */
export async function loggedLines(
  logPath: string,
  pick: (line: HaproxyLogLine) => boolean,
  count: number,
): Promise<HaproxyLogLine[]> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const lines = readHaproxyLog(logPath).filter(pick);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
