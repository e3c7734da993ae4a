/**
 * The peers bench on the ALB lab, the parts that need no lab: a DescribeTargetHealth answer read as
 * a rotation sample by node (bench/peers/rotationPoller.ts), out of rotation as the lab ALB routes
 * (only `healthy` targets take new requests), the proof that the playbook deregistered every node
 * and waited until `unused` (bench/peers/checks.ts), the inventory's ALB variables, and the table's
 * label.
 */
import { describe, expect, it } from "vitest";
import { inventoryFor, InventoryLab } from "../../bench/peers/ansible";
import { meanSpacingMs } from "../../bench/peers/measure";
import { playbookAlbProblems } from "../../bench/peers/checks";
import { PeerResult, peersTable } from "../../bench/peers/render";
import { albTakesTraffic, RotationSample, serverRotation } from "../../bench/peers/rotation";
import { albServers } from "../../bench/peers/rotationPoller";
import { FAILURE_TYPES, FailureType } from "../../lab/load/loadReport";
import { inventoryLab, task } from "./support/peers";

const IDS = { "node-1": "i-1", "node-2": "i-2" };

describe("albServers", () => {
  it("gives each node its target's state by instance id, and unused for a target no longer listed", () => {
    const servers = albServers(
      [
        { Target: { Id: "i-2", Port: 9292 }, TargetHealth: { State: "draining" } },
        { Target: { Id: "i-9", Port: 9292 }, TargetHealth: { State: "healthy" } },
      ],
      IDS,
    );
    expect(servers).toEqual({
      "node-1": { status: "unused", scur: 0 },
      "node-2": { status: "draining", scur: 0 },
    });
  });
});

describe("meanSpacingMs", () => {
  it("is the polls' actual mean spacing, 0 with fewer than two", () => {
    const at = (...ms: number[]) => ms.map((m) => ({ at: m, servers: {} }));
    expect(meanSpacingMs(at(1_000, 1_100, 1_450))).toBe(225);
    expect(meanSpacingMs(at(1_000))).toBe(0);
  });
});

describe("out of rotation on the ALB", () => {
  it("takes only healthy targets as in rotation", () => {
    expect(albTakesTraffic("healthy")).toBe(true);
    for (const state of ["initial", "unhealthy", "draining", "unused", "unavailable"])
      expect(albTakesTraffic(state)).toBe(false);
  });

  it("measures a target from the first poll not healthy to the first poll healthy again", () => {
    const states = ["healthy", "draining", "unused", "initial", "initial", "healthy", "unhealthy", "healthy"];
    const samples: RotationSample[] = states.map((status, i) => ({
      at: i * 100,
      servers: { "node-1": { status, scur: 0 } },
    }));
    const r = serverRotation(samples, "node-1", albTakesTraffic);
    expect(r.intervals).toEqual([
      { from: 100, to: 500, statuses: ["draining", "unused", "initial"] },
      { from: 600, to: 700, statuses: ["unhealthy"] },
    ]);
    expect(r.totalMs).toBe(500);
    // Negative control: HAProxy's statuses do not apply here (none of these is UP).
    expect(serverRotation(samples, "node-1").totalMs).toBe(700);
  });
});

/** node-1's target every 100 ms from t=0 to t=40000: healthy, draining from `drainFrom`, unused from `unusedFrom`. */
function polls(drainFrom = 1_000, unusedFrom = 31_000): RotationSample[] {
  return Array.from({ length: 401 }, (_, i) => {
    const at = i * 100;
    const status = at >= unusedFrom ? "unused" : at >= drainFrom ? "draining" : "healthy";
    return { at, servers: { "node-1": { status, scur: 0 } } };
  });
}

describe("playbookAlbProblems", () => {
  const names = { deregisterTask: "Deregister", stopTask: "Stop", delaySeconds: 30 };
  const tasks = [task("Deregister", "node-1", 950, 31_200), task("Stop", "node-1", 31_400, 32_000)];

  it("accepts a deregistration that waited the delay, seen draining, with the node out while it stopped", () => {
    expect(playbookAlbProblems(["node-1"], tasks, polls(), names)).toEqual([]);
  });

  it("names a deregistration that did not wait until unused", () => {
    const quick = [task("Deregister", "node-1", 950, 2_000), task("Stop", "node-1", 2_100, 3_000)];
    expect(playbookAlbProblems(["node-1"], quick, polls(), names)).toEqual([
      'node-1: "Deregister" took 1.05 s, less than the 30 s deregistration delay: it did not wait until unused',
    ]);
  });

  it("names a node with no deregister task, and one never seen draining and healthy while it stopped", () => {
    expect(playbookAlbProblems(["node-1"], [tasks[1]], polls(), names)).toEqual([
      'node-1: no successful "Deregister" task in the playbook\'s timings',
    ]);
    const problems = playbookAlbProblems(["node-1"], tasks, polls(90_000, 90_000), names);
    expect(problems).toEqual([
      "node-1: the lab ALB never showed it draining before it was stopped",
      "node-1: the lab ALB had it healthy (in rotation) while it was stopped",
    ]);
  });

  it("names a failed deregister task and a node with no stop", () => {
    const failed = { ...tasks[0], failed: true };
    expect(playbookAlbProblems(["node-1"], [failed, tasks[1]], polls(), names)).toEqual([
      'node-1: no successful "Deregister" task in the playbook\'s timings',
    ]);
    expect(playbookAlbProblems(["node-1"], [tasks[0]], polls(), names)).toEqual([
      'node-1: no "Stop" task in the playbook\'s timings',
    ]);
  });
});

describe("inventoryFor with the lab ALB", () => {
  const lab: InventoryLab = {
    ...inventoryLab(2),
    alb: {
      targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/glance-lab/1",
      region: "us-east-1",
      endpoint: "http://127.0.0.1:14566",
      instanceIds: IDS,
      port: 9292,
    },
  };

  it("gives each host its target and the play the target group, region and endpoint", () => {
    const inventory = inventoryFor(lab) as {
      all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, unknown> }> };
    };
    expect(inventory.all.children.glance_rest.hosts["node-2"]).toEqual({
      haproxy_server: "node-2",
      health_url: "http://127.0.0.1:19302/healthcheck",
      target_id: "i-2",
      target_port: 9292,
    });
    expect(inventory.all.vars).toMatchObject({
      target_group_arn: lab.alb?.targetGroupArn,
      aws_region: "us-east-1",
      aws_endpoint_url: "http://127.0.0.1:14566",
    });
  });
});

describe("peersTable on the ALB", () => {
  it("says the ALB saw the rotation", () => {
    const byType = Object.fromEntries(FAILURE_TYPES.map((t) => [t, 0])) as Record<FailureType, number>;
    const r: PeerResult = {
      peer: "driver up",
      wallMs: 1_000,
      problems: [],
      outOfRotationMs: { "node-1": 2_000 },
      outIntervals: { "node-1": 1 },
      drainWaitMs: {},
      requests: 10,
      failures: 0,
      failuresByType: byType,
      cutDownloads: 0,
      violations: 0,
      loadAverageEnd: "1.00 1.00 1.00",
    };
    const rows = peersTable([r], ["node-1"], "ALB").rows.map((row) => row[0]);
    expect(rows).toContain("node-1 out of rotation (ALB)");
    expect(rows).not.toContain("node-1 out of rotation (HAProxy)");
  });
});
