/**
 * The peers bench's playbooks (bench/peers/upgrade.yml, and upgrade-alb.yml for the ALB lab) parse with the Ansible scripts/setup-ansible.sh
 * installs, against an inventory written for a lab: `ansible-playbook --syntax-check` resolves every
 * module name (community.general.haproxy and community.aws.elb_target among them), so a missing collection fails here. The full
 * playbook run is the bench's (node dist/bench/peers.js), not the suite's: it takes minutes.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ALB_PLAYBOOK,
  ansibleEnv,
  ansibleVenv,
  PLAYBOOK,
  runPlaybook,
  writeInventory,
} from "../../bench/peers/ansible";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "gru-peers-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("bench/peers/upgrade.yml and upgrade-alb.yml", () => {
  it.each([
    ["upgrade.yml", PLAYBOOK],
    ["upgrade-alb.yml", ALB_PLAYBOOK],
  ])("%s passes ansible-playbook --syntax-check with the lab's inventory", async (name, playbook) => {
    const inventory = writeInventory(
      {
        dir: path.join(work, "lab"),
        toRelease: "2024.1",
        glanceNodeBin: path.join(work, "lab", "bin", "glance-node"),
        ports: { mariadb: 13306, haproxyFrontend: 19292, haproxyRuntimeTcp: 19999, firstNode: 19301 },
        nodes: [1, 2, 3].map((i) => ({
          name: `node-${i}`,
          healthUrl: `http://127.0.0.1:${19300 + i}/healthcheck`,
        })),
        haproxy: {
          runtimeApi: `unix:${path.join(work, "lab", "haproxy", "admin.sock")}`,
          backendName: "glance",
        },
        alb: {
          targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/glance-lab/1",
          region: "us-east-1",
          endpoint: "http://127.0.0.1:14566",
          instanceIds: { "node-1": "i-1", "node-2": "i-2", "node-3": "i-3" },
          port: 9292,
        },
      },
      path.join(work, `inventory-${name}`),
    );
    const run = await runPlaybook(
      ansibleVenv(),
      inventory,
      path.join(work, `run-${name}`),
      ["--syntax-check"],
      playbook,
    );
    expect(run.stderr).not.toMatch(/couldn't resolve module|ERROR!/);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
  });

  it("fails the syntax check on a task whose module is not installed", () => {
    const broken = path.join(work, "broken.yml");
    fs.writeFileSync(broken, "- hosts: all\n  tasks:\n    - community.general.no_such_module: {}\n");
    const venv = ansibleVenv();
    const run = spawnSync(
      path.join(venv, "bin", "ansible-playbook"),
      ["--syntax-check", "-i", "localhost,", broken],
      {
        env: ansibleEnv(venv, path.join(work, "home")),
        encoding: "utf8",
      },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/no_such_module/);
  });
});
