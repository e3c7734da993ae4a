/**
 * The peers' ALB rotation (bench/peers/alb-rotation.yml: community.aws.elb_target, deregister and
 * wait until unused, register and wait until healthy, as its users write it) run by the Ansible
 * scripts/setup-ansible.sh installs, against the lab ALB: with nothing in flight, each node's
 * deregistration still waits the group's whole delay, since the target shows `draining` until it
 * elapses. What issue 32's driver drain is measured against.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ALB_ROTATION_PLAYBOOK, ansibleVenv, runPlaybook } from "../../bench/peers/ansible";
import { LAB_ALB_REGION } from "../../lab/services/alb";
import { useTestAwsCredentials } from "../support/albLab";
import {
  Backend,
  LabAlbHarness,
  startBackend,
  startLabAlbHarness,
  targetOf,
  waitState,
} from "../support/labAlbHarness";

const DELAY_SECONDS = 6;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "gru-peers-alb-"));
let h: LabAlbHarness;
const backends: Backend[] = [];
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  restoreEnv = useTestAwsCredentials();
  h = await startLabAlbHarness({ propagationLagMs: 500 });
}, 60_000);
afterAll(async () => {
  await Promise.all(backends.map((b) => b.stop()));
  await h?.stop();
  restoreEnv();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("bench/peers/alb-rotation.yml against the lab ALB", () => {
  it("takes each node out (waiting the whole delay though nothing is in flight) and back once healthy", async () => {
    const { arn } = await h.newGroup({
      deregistrationDelaySeconds: DELAY_SECONDS,
      intervalSeconds: 5,
      healthyThreshold: 2,
    });
    for (let i = 0; i < 2; i++) backends.push(await startBackend());
    await h.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: backends.map(targetOf) }));
    for (const b of backends) await waitState(h, arn, b, "healthy", 30_000);
    const inventory = path.join(work, "inventory.yml");
    fs.writeFileSync(
      inventory,
      stringify({
        all: {
          vars: {
            ansible_connection: "local",
            ansible_python_interpreter: "{{ ansible_playbook_python }}",
            target_group_arn: arn,
            aws_region: LAB_ALB_REGION,
            aws_endpoint_url: h.alb.endpoint,
            drain_timeout_seconds: 60,
            health_timeout_seconds: 60,
          },
          children: {
            glance_alb: {
              hosts: Object.fromEntries(
                backends.map((b, i) => [`node-${i + 1}`, { target_id: b.host, target_port: b.port }]),
              ),
            },
          },
        },
      }),
    );
    const run = await runPlaybook(
      ansibleVenv(),
      inventory,
      path.join(work, "run"),
      [],
      ALB_ROTATION_PLAYBOOK,
    );
    expect(run.code, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`).toBe(0);
    const outs = run.tasks.filter((t) => t.task.startsWith("Deregister"));
    const backs = run.tasks.filter((t) => t.task.startsWith("Register"));
    console.log(
      `elb_target: deregister and wait ${outs.map((t) => (t.ms / 1000).toFixed(1)).join(", ")} s ` +
        `(delay ${DELAY_SECONDS} s, nothing in flight); register and wait ${backs.map((t) => (t.ms / 1000).toFixed(1)).join(", ")} s; ` +
        `playbook ${(run.wallMs / 1000).toFixed(1)} s`,
    );
    expect(outs.map((t) => t.host)).toEqual(["node-1", "node-2"]);
    // The whole delay, on every node, with no request in flight.
    for (const t of outs) expect(t.ms).toBeGreaterThanOrEqual((DELAY_SECONDS - 0.5) * 1000);
    expect(backs.map((t) => t.host)).toEqual(["node-1", "node-2"]);
    // Back and healthy at the end.
    const health = await h.health(arn);
    expect(health.map((d) => d.TargetHealth?.State)).toEqual(["healthy", "healthy"]);
  }, 180_000);
});
