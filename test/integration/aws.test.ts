/**
 * The ALB and RDS steps through the real AWS SDK v3 against moto server (run scripts/setup-moto.sh
 * first). What moto 5.2.5 can show about target health (read in moto/elbv2/models.py):
 * - a registered target is `healthy` at once, except an EC2 instance that is stopped: `unused`
 *   (Target.InvalidState); registering a stopped instance is refused;
 * - a deregistered target is `unused` (Target.NotRegistered) at once: a drain with nothing in flight;
 * - a registered instance that is then terminated reports `draining` for good (it never finishes);
 * - `unhealthy` and `initial` never occur, and the deregistration delay is not emulated.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { CreateDBInstanceCommand, RDSClient } from "@aws-sdk/client-rds";
import { startMoto, RunningMoto } from "../../lab/services/moto";
import { findFreePort } from "../../lab/services/ports";
import { StepContext, StepError } from "../../steps/context";
import { albAdmit, albDrain, albFleetCheck } from "../../steps/lb/alb";
import { rdsSnapshotBackup } from "../../steps/backup/rdsSnapshot";

const region = "us-east-1";
const savedEnv = { ...process.env };
let moto: RunningMoto;
let elbv2: ElasticLoadBalancingV2Client;
let vpcId: string;
let subnetIds: string[];
let listenerLbArn: string;
let groupCount = 0;
/** A setup failure (moto not installed, say) fails every test with its message instead of skipping them. */
let setupError: unknown;

function recordingContext(): StepContext & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (message) => lines.push(message) };
}

/** EC2 Query API by hand: @aws-sdk/client-ec2 is not a dependency, and moto does not check signatures. */
async function ec2At(endpoint: string, action: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${region}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Action: action, Version: "2016-11-15", ...params }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`EC2 ${action} failed: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return text;
}

function ec2(action: string, params: Record<string, string>): Promise<string> {
  return ec2At(moto.endpoint, action, params);
}

function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]+)</${tag}>`, "g"))].map((m) => m[1]);
}

async function runInstances(count: number): Promise<string[]> {
  const xml = await ec2("RunInstances", {
    ImageId: "ami-12c6146b",
    MinCount: String(count),
    MaxCount: String(count),
    InstanceType: "t3.micro",
    SubnetId: subnetIds[0],
  });
  const ids = xmlValues(xml, "instanceId");
  expect(ids).toHaveLength(count);
  return ids;
}

/** A fresh target group behind the ALB, with `targetIds` registered: every test owns its own. */
async function newTargetGroup(targetIds: string[]): Promise<string> {
  groupCount += 1;
  const created = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: `glance-${groupCount}`,
      Protocol: "HTTP",
      Port: 9292,
      VpcId: vpcId,
      TargetType: "instance",
      HealthCheckPath: "/healthcheck",
    }),
  );
  const arn = created.TargetGroups?.[0]?.TargetGroupArn;
  if (!arn) throw new Error("moto returned no target group ARN");
  await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: listenerLbArn,
      Protocol: "HTTP",
      Port: 8000 + groupCount,
      DefaultActions: [{ Type: "forward", TargetGroupArn: arn }],
    }),
  );
  if (targetIds.length > 0) {
    await elbv2.send(
      new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targetIds.map((Id) => ({ Id })) }),
    );
  }
  return arn;
}

async function registeredTargets(targetGroupArn: string): Promise<Record<string, string>> {
  const out = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return Object.fromEntries(
    (out.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id ?? "?", d.TargetHealth?.State ?? "?"]),
  );
}

async function stepError(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

beforeAll(async () => {
  try {
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    moto = await startMoto();
    elbv2 = new ElasticLoadBalancingV2Client({ region, endpoint: moto.endpoint });

    vpcId = xmlValues(await ec2("CreateVpc", { CidrBlock: "10.0.0.0/16" }), "vpcId")[0];
    subnetIds = [];
    for (const [cidr, az] of [
      ["10.0.1.0/24", "us-east-1a"],
      ["10.0.2.0/24", "us-east-1b"],
    ]) {
      const xml = await ec2("CreateSubnet", { VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: az });
      subnetIds.push(xmlValues(xml, "subnetId")[0]);
    }
    const lb = await elbv2.send(
      new CreateLoadBalancerCommand({
        Name: "glance-alb",
        Subnets: subnetIds,
        Type: "application",
        Scheme: "internal",
      }),
    );
    listenerLbArn = lb.LoadBalancers?.[0]?.LoadBalancerArn ?? "";
    expect(listenerLbArn).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:/);
  } catch (error) {
    setupError = error;
  }
}, 60_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  elbv2?.destroy();
  await moto?.stop();
  process.env = savedEnv;
});

describe("albDrain", () => {
  it("deregisters the target and returns as soon as it is unused; a rerun finds it already out", async () => {
    const [a, b, c] = await runInstances(3);
    const tg = await newTargetGroup([a, b, c]);
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy", [b]: "healthy", [c]: "healthy" });

    const ctx = recordingContext();
    const started = Date.now();
    const result = await albDrain(
      {
        region,
        endpoint: moto.endpoint,
        targetGroupArn: tg,
        targetId: a,
        minHealthy: 1,
        drainTimeoutSeconds: 30,
      },
      ctx,
    );
    const wallSeconds = (Date.now() - started) / 1000;
    console.log(`albDrain: ${wallSeconds.toFixed(2)} s wall, drainSeconds ${result.drainSeconds}`);
    expect(result.alreadyOut).toBe(false);
    expect(wallSeconds).toBeLessThan(5);
    expect(await registeredTargets(tg)).toEqual({ [b]: "healthy", [c]: "healthy" });
    expect(ctx.lines.join("\n")).toMatch(/deregistered .*2 other healthy target/);

    const rerun = await albDrain(
      {
        region,
        endpoint: moto.endpoint,
        targetGroupArn: tg,
        targetId: a,
        minHealthy: 1,
        drainTimeoutSeconds: 30,
      },
      recordingContext(),
    );
    expect(rerun).toEqual({ drainSeconds: 0, alreadyOut: true });
  });

  it("refuses when too few OTHER targets are healthy, and changes nothing", async () => {
    const [a, b, c] = await runInstances(3);
    const tg = await newTargetGroup([a, b, c]);
    const error = await stepError(
      albDrain(
        {
          region,
          endpoint: moto.endpoint,
          targetGroupArn: tg,
          targetId: a,
          minHealthy: 3,
          drainTimeoutSeconds: 30,
        },
        recordingContext(),
      ),
    );
    expect(error.message).toMatch(
      /refusing to drain .*only 2 other target\(s\).*minHealthy is 3.*Nothing was changed/,
    );
    expect(error.leftChanged).toBeUndefined();
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy", [b]: "healthy", [c]: "healthy" });
  });

  it("counts healthy targets, not registered ones: a stopped instance does not count", async () => {
    const [a, b, c] = await runInstances(3);
    const tg = await newTargetGroup([a, b, c]);
    await ec2("StopInstances", { "InstanceId.1": b });
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy", [b]: "unused", [c]: "healthy" });
    const error = await stepError(
      albDrain(
        {
          region,
          endpoint: moto.endpoint,
          targetGroupArn: tg,
          targetId: a,
          minHealthy: 2,
          drainTimeoutSeconds: 30,
        },
        recordingContext(),
      ),
    );
    expect(error.message).toMatch(/only 1 other target\(s\).*minHealthy is 2/);
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy", [b]: "unused", [c]: "healthy" });
  });

  it("times out on a target that stays draining, naming what it left", async () => {
    const [a, b] = await runInstances(2);
    const tg = await newTargetGroup([a, b]);
    // moto moves a terminated instance's registration to `draining`, where it stays.
    await ec2("TerminateInstances", { "InstanceId.1": a });
    const ctx = recordingContext();
    const started = Date.now();
    const error = await stepError(
      albDrain(
        {
          region,
          endpoint: moto.endpoint,
          targetGroupArn: tg,
          targetId: a,
          minHealthy: 1,
          drainTimeoutSeconds: 2,
        },
        ctx,
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`albDrain timeout: ${seconds.toFixed(2)} s for drainTimeoutSeconds 2`);
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(5);
    expect(ctx.lines.join("\n")).toMatch(/already draining/);
    expect(error.message).toMatch(
      /not confirmed after [\d.]+ s \(limit 2 s\): it is OUT of rotation.*last health: draining \(Target.DeregistrationInProgress/,
    );
    expect(error.leftChanged).toMatch(/deregistered .*out of rotation.*drain not confirmed/);
  });

  it("fails clearly for a target group that does not exist", async () => {
    const missing = (await newTargetGroup([])).replace(/glance-\d+\/\w+$/, "no-such-group/0123456789abcdef");
    const error = await stepError(
      albDrain(
        {
          region,
          endpoint: moto.endpoint,
          targetGroupArn: missing,
          targetId: "i-0123456789abcdef0",
          minHealthy: 1,
          drainTimeoutSeconds: 5,
        },
        recordingContext(),
      ),
    );
    expect(error.message).toMatch(/target group .*no-such-group.* does not exist.*Nothing was changed/);
  });
});

describe("albAdmit", () => {
  it("registers the target and waits until healthy; a rerun changes nothing", async () => {
    const [a, b, c] = await runInstances(3);
    const tg = await newTargetGroup([a, b]);
    const ctx = recordingContext();
    const started = Date.now();
    const result = await albAdmit(
      { region, endpoint: moto.endpoint, targetGroupArn: tg, targetId: c, healthTimeoutSeconds: 30 },
      ctx,
    );
    console.log(
      `albAdmit: ${((Date.now() - started) / 1000).toFixed(2)} s wall, admitSeconds ${result.admitSeconds}`,
    );
    expect(result.admitSeconds).toBeLessThan(5);
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy", [b]: "healthy", [c]: "healthy" });
    expect(ctx.lines.join("\n")).toMatch(/registered .* waiting up to 30 s/);

    const rerun = recordingContext();
    expect(
      await albAdmit(
        { region, endpoint: moto.endpoint, targetGroupArn: tg, targetId: c, healthTimeoutSeconds: 30 },
        rerun,
      ),
    ).toEqual({ admitSeconds: 0 });
    expect(rerun.lines).toEqual([expect.stringMatching(/already registered and healthy/)]);
  });

  it("deregisters a target that does not become healthy and reports the last health reason", async () => {
    const [a, b] = await runInstances(2);
    const tg = await newTargetGroup([a, b]);
    await ec2("StopInstances", { "InstanceId.1": b });
    const started = Date.now();
    const error = await stepError(
      albAdmit(
        { region, endpoint: moto.endpoint, targetGroupArn: tg, targetId: b, healthTimeoutSeconds: 2 },
        recordingContext(),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`albAdmit timeout: ${seconds.toFixed(2)} s for healthTimeoutSeconds 2`);
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(5);
    expect(error.message).toMatch(
      /healthy not confirmed after [\d.]+ s \(limit 2 s\) .*Target\.InvalidState: Target is in the stopped state/,
    );
    expect(error.message).toMatch(/deregistered again, so it is OUT of rotation/);
    expect(error.leftChanged).toBeUndefined();
    expect(await registeredTargets(tg)).toEqual({ [a]: "healthy" });
  });

  it("fails clearly for a target group that does not exist", async () => {
    const missing = (await newTargetGroup([])).replace(/glance-\d+\/\w+$/, "no-such-group/0123456789abcdef");
    const error = await stepError(
      albAdmit(
        {
          region,
          endpoint: moto.endpoint,
          targetGroupArn: missing,
          targetId: "i-0123456789abcdef0",
          healthTimeoutSeconds: 5,
        },
        recordingContext(),
      ),
    );
    expect(error.message).toMatch(/target group .*no-such-group.* does not exist/);
  });
});

describe("albFleetCheck", () => {
  it("passes for exactly the upgraded, healthy set; fails for an unexpected or missing target", async () => {
    const [a, b, c, d] = await runInstances(4);
    const tg = await newTargetGroup([a, b, c]);
    const check = (expectedTargetIds: string[]) =>
      albFleetCheck(
        { region, endpoint: moto.endpoint, targetGroupArn: tg, expectedTargetIds },
        recordingContext(),
      );

    expect(await check([c, a, b])).toEqual({ targets: [a, b, c].sort() });

    await elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: d }] }));
    const unexpected = await stepError(check([a, b, c]));
    expect(unexpected.message).toMatch(new RegExp(`outside the upgraded set: ${d}\\..*Nothing was changed`));

    const missing = await stepError(check([a, b, c, d, "i-0000000000000000e"]));
    expect(missing.message).toMatch(/not healthy: i-0000000000000000e: not registered/);
    expect(missing.message).not.toMatch(/outside the upgraded set/);
  });
});

describe("AWS API unreachable", () => {
  it("a closed port fails with a clear error that says nothing was changed", async () => {
    const closed = `http://127.0.0.1:${await findFreePort()}`;
    const ref = {
      region,
      endpoint: closed,
      targetGroupArn:
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/glance/0123456789abcdef",
      targetId: "i-0123456789abcdef0",
    };
    const started = Date.now();
    const drain = await stepError(
      albDrain({ ...ref, minHealthy: 1, drainTimeoutSeconds: 5 }, recordingContext()),
    );
    console.log(
      `albDrain against a closed port failed after ${((Date.now() - started) / 1000).toFixed(2)} s`,
    );
    expect(drain.message).toMatch(
      /DescribeTargetHealth failed: .*ECONNREFUSED.*Nothing was changed; i-0123456789abcdef0 is where it was/,
    );
    const admit = await stepError(albAdmit({ ...ref, healthTimeoutSeconds: 5 }, recordingContext()));
    expect(admit.message).toMatch(/DescribeTargetHealth failed: .*Nothing was changed/);
    const fleet = await stepError(
      albFleetCheck({ ...ref, expectedTargetIds: [ref.targetId] }, recordingContext()),
    );
    expect(fleet.message).toMatch(/DescribeTargetHealth failed: .*Nothing was changed/);
  });

  it("moto stopped in the middle of a drain: the error says the target is out of rotation", async () => {
    const second = await startMoto();
    try {
      const elbv2Second = new ElasticLoadBalancingV2Client({ region, endpoint: second.endpoint });
      const ec2Second = (action: string, params: Record<string, string>) =>
        ec2At(second.endpoint, action, params);
      const vpc = xmlValues(await ec2Second("CreateVpc", { CidrBlock: "10.1.0.0/16" }), "vpcId")[0];
      const subnet = xmlValues(
        await ec2Second("CreateSubnet", { VpcId: vpc, CidrBlock: "10.1.1.0/24" }),
        "subnetId",
      )[0];
      const [a, b] = xmlValues(
        await ec2Second("RunInstances", {
          ImageId: "ami-12c6146b",
          MinCount: "2",
          MaxCount: "2",
          SubnetId: subnet,
        }),
        "instanceId",
      );
      const tg = (
        await elbv2Second.send(
          new CreateTargetGroupCommand({
            Name: "glance-down",
            Protocol: "HTTP",
            Port: 9292,
            VpcId: vpc,
            TargetType: "instance",
          }),
        )
      ).TargetGroups?.[0]?.TargetGroupArn;
      if (!tg) throw new Error("moto returned no target group ARN");
      await elbv2Second.send(
        new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: a }, { Id: b }] }),
      );
      elbv2Second.destroy();
      await ec2Second("TerminateInstances", { "InstanceId.1": a });

      const ctx: StepContext = {
        log: (message) => {
          if (/already draining/.test(message)) void second.stop();
        },
      };
      const error = await stepError(
        albDrain(
          {
            region,
            endpoint: second.endpoint,
            targetGroupArn: tg,
            targetId: a,
            minHealthy: 1,
            drainTimeoutSeconds: 3,
          },
          ctx,
        ),
      );
      expect(error.message).toMatch(/OUT of rotation .*health could not be read: .*ECONNREFUSED/);
      expect(error.leftChanged).toMatch(/deregistered .*out of rotation/);
    } finally {
      await second.stop();
    }
  });
});

describe("rdsSnapshotBackup", () => {
  it("snapshots a DB instance, and a rerun with the same id reuses the snapshot", async () => {
    const rds = new RDSClient({ region, endpoint: moto.endpoint });
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: "glance-db",
        Engine: "mysql",
        DBInstanceClass: "db.t3.micro",
        AllocatedStorage: 20,
        MasterUsername: "admin",
        MasterUserPassword: "not-a-real-secret-1",
      }),
    );
    rds.destroy();
    const args = {
      region,
      endpoint: moto.endpoint,
      dbInstanceIdentifier: "glance-db",
      snapshotIdentifier: "glance-before-2024-2",
      timeoutSeconds: 30,
    };
    const first = recordingContext();
    const created = await rdsSnapshotBackup(args, first);
    console.log(`rdsSnapshotBackup: ${created.seconds} s`);
    expect(created.snapshotArn).toBe("arn:aws:rds:us-east-1:123456789012:snapshot:glance-before-2024-2");
    expect(created.snapshotIdentifier).toBe("glance-before-2024-2");
    expect(first.lines.join("\n")).toMatch(/creating snapshot glance-before-2024-2/);

    const rerun = recordingContext();
    const reused = await rdsSnapshotBackup(args, rerun);
    expect(reused.snapshotArn).toBe(created.snapshotArn);
    expect(rerun.lines.join("\n")).toMatch(/reusing available snapshot glance-before-2024-2/);
    expect(rerun.lines.join("\n")).not.toMatch(/creating/);

    const otherInstance = await stepError(
      rdsSnapshotBackup({ ...args, dbInstanceIdentifier: "other-db" }, recordingContext()),
    );
    expect(otherInstance.message).toMatch(/already exists but is of DB instance "glance-db", not "other-db"/);
  });

  it("fails clearly for a DB instance that does not exist", async () => {
    const error = await stepError(
      rdsSnapshotBackup(
        {
          region,
          endpoint: moto.endpoint,
          dbInstanceIdentifier: "no-such-db",
          snapshotIdentifier: "s-1",
          timeoutSeconds: 10,
        },
        recordingContext(),
      ),
    );
    expect(error.message).toMatch(/DB instance "no-such-db" does not exist/);
  });
});
