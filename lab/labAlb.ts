/**
 * `lab up --alb`: the lab ALB (lab/services/alb.ts) in front of the lab's nodes, beside HAProxy (which
 * keeps the nodes' own frontends, their `worker_self_reference_url`). One EC2 instance per node in
 * moto, tagged with the node's loopback address, in an instance target group with small values AWS
 * accepts (health checks every 5 s, timeout 2 s, both thresholds 2, deregistration delay 30 s), and
 * a listener. The stack reads it all from lab.json (`alb`).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { PROJECT_ROOT } from "../driver/environment";
import { pollUntil } from "../steps/context";
import { isAlive, stopPid } from "./processes";
import { ADDRESS_TAG, ec2Call, LAB_ALB_REGION } from "./services/alb";
import { createGroupWithListener, createLoadBalancer, firstXmlValue } from "./services/albSetup";
import { LAB_IDENTITY_HEADERS, type LabAlbState, type LabNode, type LabState, writeLabState } from "./state";

export interface LabAlbOptions {
  /** deregistration_delay.timeout_seconds; default 30. */
  deregistrationDelaySeconds?: number;
  /** How long a deregistered target may still get new requests; default 1000 ms. */
  propagationLagMs?: number;
  /** The data plane's idle timeout (its pooled connections to targets too); default 60 s. */
  idleTimeoutSeconds?: number;
}

/** The compiled entry point (the tests run the TypeScript source, whose process needs the build). */
const ALB_MAIN = path.join(PROJECT_ROOT, "dist", "lab", "services", "albMain.js");
const TARGET_PORT = 9292;
const START_TIMEOUT_MS = 60_000;

/** Starts albMain (a process that outlives this one when `outlive`), waits for its ready file. */
async function startAlbProcess(
  dir: string,
  opts: LabAlbOptions,
  outlive: boolean,
): Promise<{ pid: number; endpoint: string; motoEndpoint: string; logPath: string }> {
  if (!fs.existsSync(ALB_MAIN)) throw new Error(`${ALB_MAIN} is missing: run "npm run build" first`);
  fs.mkdirSync(dir, { recursive: true });
  const readyFile = path.join(dir, "ready.json");
  fs.rmSync(readyFile, { force: true });
  const logFd = fs.openSync(path.join(dir, "alb-process.log"), "a");
  const options = {
    dir,
    propagationLagMs: opts.propagationLagMs,
    idleTimeoutSeconds: opts.idleTimeoutSeconds,
    requestHeaders: LAB_IDENTITY_HEADERS,
  };
  const child = spawn(process.execPath, [ALB_MAIN, JSON.stringify(options), readyFile], {
    stdio: ["ignore", logFd, logFd],
  });
  fs.closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${ALB_MAIN}`);
  const pid = child.pid;
  if (!outlive) process.once("exit", () => void child.kill("SIGTERM"));
  let exited = false;
  child.once("exit", () => (exited = true));
  const ready = await pollUntil(
    async () => {
      if (exited)
        throw new Error(`the lab ALB exited while starting: see ${path.join(dir, "alb-process.log")}`);
      return fs.existsSync(readyFile)
        ? (JSON.parse(fs.readFileSync(readyFile, "utf8")) as {
            endpoint: string;
            motoEndpoint: string;
            logPath: string;
          })
        : undefined;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 200, describe: () => "the lab ALB to answer" },
  );
  return { pid, ...ready };
}

/** Starts the lab ALB unless the one in `state` runs; builds its target group of `nodes`; records it in lab.json. */
export async function ensureLabAlb(
  state: LabState,
  nodes: LabNode[],
  opts: LabAlbOptions,
  outlive: boolean,
  log: (line: string) => void,
): Promise<LabAlbState> {
  if (state.alb !== undefined && isAlive(state.alb.pid, "albMain")) return state.alb;
  const started = Date.now();
  const running = await startAlbProcess(path.join(state.dir, "alb"), opts, outlive);
  const elbv2 = new ElasticLoadBalancingV2Client({
    region: LAB_ALB_REGION,
    endpoint: running.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    const moto = running.motoEndpoint;
    const lb = await createLoadBalancer(moto, elbv2, "glance-lab");
    const instanceIds: Record<string, string> = {};
    for (const node of nodes) {
      const xml = await ec2Call(moto, "RunInstances", {
        ImageId: "ami-12c6146b",
        MinCount: "1",
        MaxCount: "1",
        InstanceType: "t3.micro",
        SubnetId: lb.subnetIds[0],
        "TagSpecification.1.ResourceType": "instance",
        "TagSpecification.1.Tag.1.Key": "Name",
        "TagSpecification.1.Tag.1.Value": node.name,
        "TagSpecification.1.Tag.2.Key": ADDRESS_TAG,
        "TagSpecification.1.Tag.2.Value": node.address,
      });
      instanceIds[node.name] = firstXmlValue(xml, "instanceId");
    }
    const deregistrationDelaySeconds = opts.deregistrationDelaySeconds ?? 30;
    const { targetGroupArn, listenerPort } = await createGroupWithListener(elbv2, lb, {
      name: "glance-lab",
      targetType: "instance",
      healthCheckPath: "/healthcheck",
      intervalSeconds: 5,
      timeoutSeconds: 2,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      matcher: "200",
      attributes: { "deregistration_delay.timeout_seconds": deregistrationDelaySeconds },
    });
    await elbv2.send(
      new RegisterTargetsCommand({
        TargetGroupArn: targetGroupArn,
        Targets: Object.values(instanceIds).map((Id) => ({ Id })),
      }),
    );
    await pollUntil(
      async () => {
        const out = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
        const states = out.TargetHealthDescriptions ?? [];
        return states.length === nodes.length && states.every((d) => d.TargetHealth?.State === "healthy")
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, describe: () => "the lab ALB's targets to turn healthy" },
    );
    const alb: LabAlbState = {
      pid: running.pid,
      endpoint: running.endpoint,
      motoEndpoint: moto,
      region: LAB_ALB_REGION,
      targetGroupArn,
      frontendUrl: `http://127.0.0.1:${listenerPort}`,
      logPath: running.logPath,
      instanceIds,
      port: TARGET_PORT,
      deregistrationDelaySeconds,
      propagationLagMs: opts.propagationLagMs ?? 1000,
    };
    state.alb = alb;
    writeLabState(state);
    log(
      `lab ALB up in ${Date.now() - started} ms: ${alb.frontendUrl}, ELBv2 API ${alb.endpoint}, ${targetGroupArn}`,
    );
    return alb;
  } catch (error) {
    await stopPid(running.pid, "albMain", "the lab ALB");
    throw error;
  } finally {
    elbv2.destroy();
  }
}

export async function stopLabAlb(state: LabState | undefined): Promise<void> {
  if (state?.alb !== undefined && state.alb.pid > 0) await stopPid(state.alb.pid, "albMain", "the lab ALB");
}
