/**
 * The lab ALB: moto server as the ELBv2 control plane, and in front of it a small ELBv2 API proxy
 * wired to a data plane (albDataPlane.ts) that gives the load balancer AWS's behaviour.
 *
 * Why a proxy and not moto's state patched through its API: moto stores a target as registered or
 * not, and computes its health on each DescribeTargetHealth; it has no place for `initial`,
 * `unhealthy` or a `draining` that ends, and it refuses to deregister an unknown target. So the
 * proxy forwards every ELBv2 call to moto (which validates it and keeps target groups, listeners and
 * their attributes), and answers from the data plane's state what moto cannot: DescribeTargetHealth
 * (the health the data plane computes), DeregisterTargets (an unknown target is no error, as on AWS),
 * and after a RegisterTargets, CreateListener or Modify* that moto accepted it tells the data plane.
 * The program talks to the proxy through the AWS SDK (`loadBalancer.endpoint`), as it would to AWS.
 *
 * Targets: an ip target is reached at its id and port; an instance target at its `lab-alb:address`
 * tag (HOST:PORT, how the lab maps an instance to a Glance node on loopback), else its private IP
 * and the target's port. The instance's `Name` tag names it in the request log and X-Served-By.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import {
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import {
  AlbDataPlane,
  TargetAddress,
  TargetGroupSettings,
  TargetHealthView,
  TargetRef,
} from "./albDataPlane";
import { startMoto } from "./moto";

export const LAB_ALB_REGION = "us-east-1";
/** The EC2 tag that maps an instance target to the HOST:PORT that serves it in the lab. */
export const ADDRESS_TAG = "lab-alb:address";

export interface StartLabAlbOptions {
  /** Where alb.log goes. */
  dir: string;
  /** How long a deregistered target may still get new requests; default 1000 ms. */
  propagationLagMs?: number;
  /** Idle connections (client side and to targets) are closed after this long; default 60 s. */
  idleTimeoutSeconds?: number;
  /** Headers set on every request to a target (the lab's identity). */
  requestHeaders?: Record<string, string>;
  /** The ELBv2 API proxy's port; 0 or absent: a free one. */
  apiPort?: number;
}

export interface RunningLabAlb {
  /** The ELBv2 API with the data plane's behaviour (what the program's `loadBalancer.endpoint` names). */
  endpoint: string;
  /** moto itself (EC2 and every other service; ELBv2 without the data plane). */
  motoEndpoint: string;
  /** One line per request, in HAProxy's httplog format. */
  logPath: string;
  /** Listener ARN -> its frontend URL, for the listeners created through `endpoint`. */
  listenerUrls: Map<string, string>;
  stop(): Promise<void>;
}

const ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The first value of `<tag>` in `xml`. */
function xmlValue(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

/** `Targets.member.N.Id/Port` of a Query API request. */
export function targetsOf(params: URLSearchParams, defaultPort: number): TargetRef[] {
  const refs: TargetRef[] = [];
  for (let n = 1; params.has(`Targets.member.${n}.Id`); n++) {
    const port = params.get(`Targets.member.${n}.Port`);
    refs.push({ id: params.get(`Targets.member.${n}.Id`) ?? "", port: port ? Number(port) : defaultPort });
  }
  return refs;
}

function answerXml(res: http.ServerResponse, action: string, result: string): void {
  const requestId = randomUUID();
  res.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": requestId });
  res.end(
    `<${action}Response xmlns="${ELB_NS}"><${action}Result>${result}</${action}Result>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
  );
}

export function targetHealthXml(views: TargetHealthView[]): string {
  const members = views
    .map((v) => {
      const why = v.reason
        ? `<Reason>${xmlEscape(v.reason)}</Reason><Description>${xmlEscape(v.description ?? "")}</Description>`
        : "";
      return (
        `<member><HealthCheckPort>${v.healthCheckPort}</HealthCheckPort>` +
        `<Target><Id>${xmlEscape(v.id)}</Id><Port>${v.port}</Port></Target>` +
        `<TargetHealth><State>${v.state}</State>${why}</TargetHealth></member>`
      );
    })
    .join("");
  return `<TargetHealthDescriptions>${members}</TargetHealthDescriptions>`;
}

interface Forwarded {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function forwardTo(motoEndpoint: string, req: http.IncomingMessage, body: string): Promise<Forwarded> {
  const url = new URL(req.url ?? "/", motoEndpoint);
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: url.host, "content-length": String(Buffer.byteLength(body)) };
    const out = http.request(url, { method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 500,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    out.on("error", reject);
    out.end(body);
  });
}

function relay(res: http.ServerResponse, answer: Forwarded): void {
  const headers = { ...answer.headers };
  delete headers["content-length"];
  delete headers["transfer-encoding"];
  delete headers.connection;
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

/** The same call with other parameters (moto does not check signatures). */
function withParams(params: URLSearchParams, change: (p: URLSearchParams) => void): string {
  const copy = new URLSearchParams(params);
  change(copy);
  return copy.toString();
}

/** EC2 Query API by hand (no EC2 SDK dependency; moto does not check signatures). */
export async function ec2Call(
  motoEndpoint: string,
  action: string,
  params: Record<string, string>,
): Promise<string> {
  const res = await fetch(`${motoEndpoint}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${LAB_ALB_REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Action: action, Version: "2016-11-15", ...params }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`EC2 ${action} failed: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

async function instanceAddress(motoEndpoint: string, ref: TargetRef): Promise<TargetAddress> {
  const xml = await ec2Call(motoEndpoint, "DescribeInstances", { "InstanceId.1": ref.id });
  const tag = (key: string) => new RegExp(`<key>${key}</key>\\s*<value>([^<]*)</value>`).exec(xml)?.[1];
  const name = tag("Name") ?? `${ref.id}:${ref.port}`;
  const mapped = tag(ADDRESS_TAG);
  if (mapped) {
    const [host, port] = mapped.split(":");
    return { host, port: Number(port), name };
  }
  return { host: xmlValue(xml, "privateIpAddress") ?? ref.id, port: ref.port, name };
}

async function readSettings(elbv2: ElasticLoadBalancingV2Client, arn: string): Promise<TargetGroupSettings> {
  const group = (await elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] })))
    .TargetGroups?.[0];
  if (!group) throw new Error(`moto knows no target group ${arn}`);
  const attributes = (await elbv2.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })))
    .Attributes;
  const attribute = (key: string, fallback: number) =>
    Number(attributes?.find((a) => a.Key === key)?.Value ?? fallback);
  return {
    name: group.TargetGroupName ?? arn,
    healthCheckPath: group.HealthCheckPath ?? "/",
    healthCheckPort: group.HealthCheckPort ?? "traffic-port",
    matcher: group.Matcher?.HttpCode ?? "200",
    intervalSeconds: group.HealthCheckIntervalSeconds ?? 30,
    timeoutSeconds: group.HealthCheckTimeoutSeconds ?? 5,
    healthyThreshold: group.HealthyThresholdCount ?? 5,
    unhealthyThreshold: group.UnhealthyThresholdCount ?? 2,
    deregistrationDelaySeconds: attribute("deregistration_delay.timeout_seconds", 300),
    slowStartSeconds: attribute("slow_start.duration_seconds", 0),
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startLabAlb(opts: StartLabAlbOptions): Promise<RunningLabAlb> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const logPath = path.join(opts.dir, "alb.log");
  const moto = await startMoto();
  const motoEndpoint = moto.endpoint;
  const elbv2 = new ElasticLoadBalancingV2Client({
    region: LAB_ALB_REGION,
    endpoint: motoEndpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const plane = new AlbDataPlane({
    logPath,
    propagationLagMs: opts.propagationLagMs,
    ...(opts.idleTimeoutSeconds === undefined ? {} : { idleTimeoutSeconds: opts.idleTimeoutSeconds }),
    requestHeaders: opts.requestHeaders,
  });
  const listenerUrls = new Map<string, string>();

  const syncGroup = async (arn: string): Promise<TargetGroupSettings> => {
    const settings = await readSettings(elbv2, arn);
    plane.setGroup(arn, settings);
    return settings;
  };
  const groupPort = async (arn: string): Promise<number> => {
    const group = (await elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] })))
      .TargetGroups?.[0];
    return group?.Port ?? 80;
  };
  const resolveTarget = async (ref: TargetRef): Promise<TargetAddress> =>
    ref.id.startsWith("i-")
      ? instanceAddress(motoEndpoint, ref)
      : { host: ref.id, port: ref.port, name: `${ref.id}:${ref.port}` };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const params = new URLSearchParams(body);
    const action = params.get("Action") ?? "";
    const arn = params.get("TargetGroupArn") ?? "";
    switch (action) {
      case "DescribeTargetHealth": {
        const moto = await forwardTo(motoEndpoint, req, body);
        if (moto.status !== 200) return relay(res, moto);
        if (!plane.hasGroup(arn)) await syncGroup(arn);
        const targets = targetsOf(params, await groupPort(arn));
        return answerXml(res, action, targetHealthXml(plane.describe(arn, targets)));
      }
      case "RegisterTargets": {
        const moto = await forwardTo(motoEndpoint, req, body);
        if (moto.status === 200) {
          await syncGroup(arn);
          const targets = targetsOf(params, await groupPort(arn));
          const resolved = await Promise.all(
            targets.map(async (t) => ({ ...t, address: await resolveTarget(t) })),
          );
          plane.register(arn, resolved);
        }
        return relay(res, moto);
      }
      case "DeregisterTargets": {
        // moto refuses an unknown target (and stops half-way): one call per target, InvalidTarget ignored.
        const targets = targetsOf(params, 0);
        for (const [i, target] of (targets.length > 0 ? targets : [undefined]).entries()) {
          const one = withParams(params, (p) => {
            for (const key of [...p.keys()]) if (key.startsWith("Targets.member.")) p.delete(key);
            if (target === undefined) return;
            p.set("Targets.member.1.Id", target.id);
            const port = params.get(`Targets.member.${i + 1}.Port`);
            if (port) p.set("Targets.member.1.Port", port);
          });
          const moto = await forwardTo(motoEndpoint, req, one);
          if (moto.status !== 200 && xmlValue(moto.body, "Code") !== "InvalidTarget") return relay(res, moto);
        }
        if (!plane.hasGroup(arn)) await syncGroup(arn);
        const port = await groupPort(arn);
        plane.deregister(arn, targetsOf(params, port));
        return answerXml(res, action, "");
      }
      case "CreateListener": {
        const moto = await forwardTo(motoEndpoint, req, body);
        const forwardArn = params.get("DefaultActions.member.1.TargetGroupArn");
        const listenerArn = xmlValue(moto.body, "ListenerArn");
        if (moto.status === 200 && forwardArn && listenerArn) {
          await syncGroup(forwardArn);
          listenerUrls.set(
            listenerArn,
            await plane.listen(listenerArn, Number(params.get("Port")), forwardArn),
          );
        }
        return relay(res, moto);
      }
      case "DeleteListener": {
        const moto = await forwardTo(motoEndpoint, req, body);
        const listenerArn = params.get("ListenerArn") ?? "";
        if (moto.status === 200) {
          await plane.closeListener(listenerArn);
          listenerUrls.delete(listenerArn);
        }
        return relay(res, moto);
      }
      case "ModifyTargetGroup":
      case "ModifyTargetGroupAttributes": {
        const moto = await forwardTo(motoEndpoint, req, body);
        if (moto.status === 200 && plane.hasGroup(arn)) await syncGroup(arn);
        return relay(res, moto);
      }
      default:
        return relay(res, await forwardTo(motoEndpoint, req, body));
    }
  };

  const api = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(500, { "content-type": "text/xml" });
      res.end(
        `<ErrorResponse xmlns="${ELB_NS}"><Error><Type>Receiver</Type><Code>InternalFailure</Code>` +
          `<Message>${xmlEscape(`lab ALB: ${(error as Error).message}`)}</Message></Error></ErrorResponse>`,
      );
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      api.once("error", reject);
      api.listen(opts.apiPort ?? 0, "127.0.0.1", () => resolve());
    });
  } catch (error) {
    await moto.stop();
    throw error;
  }
  const endpoint = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  return {
    endpoint,
    motoEndpoint,
    logPath,
    listenerUrls,
    async stop() {
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
      await plane.close();
      elbv2.destroy();
      await moto.stop();
    },
  };
}
