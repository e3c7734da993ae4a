/**
 * `lab up --alb`: the lab ALB in front of real Glance nodes, recorded in lab.json; a stack config
 * pointing at it parses; the program's own ALB steps (albDrain, albAdmit) run against it through the
 * AWS SDK and take the times AWS would give them; `lab down` stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabState, labDown } from "../../lab/lab";
import { startLoad } from "../../lab/load/client";
import { readHaproxyLog } from "../../lab/load/haproxyLog";
import { loadSummary, zeroFailureViolations } from "../../lab/load/verdict";
import { isAlive } from "../../lab/processes";
import { labStackConfig } from "../../lab/stack";
import { LAB_IDENTITY_HEADERS } from "../../lab/state";
import { parseStackConfig } from "../../plan/config";
import { albAdmit, albDrain } from "../../steps/lb/alb/membership";
import { describeTarget } from "../../steps/lb/alb/targetGroup";
import { elbv2Client } from "../../steps/aws/clients";
import { loggedLines } from "../support/labAlbHarness";
import { useTestAwsCredentials } from "../support/albLab";
import { freshLab } from "../support/labFixture";
import { recordingContext } from "../support/stepHarness";

const DELAY_SECONDS = 5;
let lab: LabState;
let restoreEnv = (): void => undefined;

beforeAll(async () => {
  restoreEnv = useTestAwsCredentials();
  lab = await freshLab(2, undefined, { alb: { deregistrationDelaySeconds: DELAY_SECONDS } });
}, 240_000);

afterAll(async () => {
  if (lab) await labDown(lab.dir, { purge: true, log: () => undefined });
  restoreEnv();
});

describe("the lab ALB in front of the Glance lab", () => {
  it("serves the nodes through its listener and logs each request under the node's name", async () => {
    const alb = lab.alb;
    if (alb === undefined) throw new Error("lab.json has no alb");
    expect(Object.keys(alb.instanceIds)).toEqual(["node-1", "node-2"]);
    const servedBy = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${alb.frontendUrl}/v2/images`, {
        headers: { "x-request-id": `wiring-${i}`, ...LAB_IDENTITY_HEADERS },
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      servedBy.add(res.headers.get("x-served-by") ?? "?");
    }
    expect([...servedBy].sort()).toEqual(["node-1", "node-2"]);
    const lines = await loggedLines(alb.logPath, (l) => l.requestId?.startsWith("wiring-") === true, 4);
    expect(lines.map((l) => [l.server, l.status, l.termination]).sort()).toEqual([
      ["node-1", 200, "----"],
      ["node-1", 200, "----"],
      ["node-2", 200, "----"],
      ["node-2", 200, "----"],
    ]);
  });

  it("serves the load client's continuous load with no failure, by the one verdict on its own log", async () => {
    const alb = lab.alb;
    if (alb === undefined) throw new Error("lab.json has no alb");
    const load = startLoad({ baseUrl: alb.frontendUrl, seedImages: lab.seedImages });
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const report = await load.stop();
    const ofLoad = await loggedLines(
      alb.logPath,
      (l) => l.requestId?.startsWith(report.requestIdPrefix) === true,
      report.requests,
    );
    console.log(`through the lab ALB: ${loadSummary(report)}; ${ofLoad.length} ALB log lines for them`);
    // One line per request of the load, each with its id.
    expect(ofLoad.length).toBe(report.requests);
    // A floor against an idle load, not a throughput target (the machine is shared: 3-21 requests/s seen).
    expect(
      zeroFailureViolations(report, { minRequests: 40, haproxyLines: readHaproxyLog(alb.logPath) }),
    ).toEqual([]);
  }, 60_000);

  it("a stack config for it parses; the program's drain waits the whole delay, its admit the health checks", async () => {
    const alb = lab.alb;
    if (alb === undefined) throw new Error("lab.json has no alb");
    const secret = { present: true, isSecret: true };
    const config = parseStackConfig(labStackConfig(lab, { transport: "local", loadBalancer: "alb" }), {
      dbPassword: secret,
      dbAdminPassword: secret,
      sshPrivateKey: { present: false, isSecret: false },
    });
    expect(config.loadBalancer).toMatchObject({
      type: "alb",
      targetGroupArn: alb.targetGroupArn,
      endpoint: alb.endpoint,
      port: 9292,
    });
    expect(config.nodes.map((n) => n.instanceId)).toEqual([
      alb.instanceIds["node-1"],
      alb.instanceIds["node-2"],
    ]);

    const ref = {
      region: alb.region,
      endpoint: alb.endpoint,
      targetGroupArn: alb.targetGroupArn,
      targetId: alb.instanceIds["node-2"],
      port: alb.port,
    };
    // Nothing in flight, and still: on AWS (and here) the target shows draining until the delay.
    const drained = await albDrain({ ...ref, minHealthy: 1, drainTimeoutSeconds: 30 }, recordingContext());
    console.log(
      `albDrain on the lab ALB: ${drained.drainSeconds} s (deregistration delay ${DELAY_SECONDS} s)`,
    );
    expect(drained.drainSeconds).toBeGreaterThanOrEqual(DELAY_SECONDS - 0.2);
    expect(drained.drainSeconds).toBeLessThan(DELAY_SECONDS + 3);
    const client = elbv2Client(ref);
    expect((await describeTarget(client, ref)).health).toBe(
      "unused (Target.NotRegistered: Target is not registered to the target group)",
    );

    const admitted = await albAdmit({ ...ref, healthTimeoutSeconds: 30 }, recordingContext());
    console.log(
      `albAdmit on the lab ALB: ${admitted.admitSeconds} s (lag 1 s, interval 5 s, healthy threshold 2)`,
    );
    expect(admitted.admitSeconds).toBeGreaterThan(5);
    expect(admitted.admitSeconds).toBeLessThan(10);
    expect((await describeTarget(client, ref)).healthy).toBe(true);
    client.destroy();
  }, 60_000);

  it("lab down stops it", async () => {
    const pid = lab.alb?.pid ?? 0;
    expect(isAlive(pid, "albMain")).toBe(true);
    await labDown(lab.dir, { log: () => undefined });
    expect(isAlive(pid, "albMain")).toBe(false);
  }, 60_000);
});
