/**
 * Runs bench/peers/upgrade.yml against a lab with the Ansible that scripts/setup-ansible.sh installs:
 * writes the inventory for that lab, runs `ansible-playbook` with the ansible.posix.json callback and
 * returns its exit code, wall time and the timing of every task.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { PROJECT_ROOT } from "../../driver/environment";
import { LAB_CREDENTIALS, type LabState } from "../../lab/state";
import { releaseInfo } from "../../lab/releases";
import { TaskTiming, taskTimings } from "./ansibleTimings";

export const PLAYBOOK = path.join(PROJECT_ROOT, "bench", "peers", "upgrade.yml");
/** The ALB rotation with community.aws.elb_target (deregister and wait; register and wait). */
export const ALB_ROTATION_PLAYBOOK = path.join(PROJECT_ROOT, "bench", "peers", "alb-rotation.yml");
/** upgrade.yml with the ALB rotation in place of HAProxy's (the peers bench on the ALB lab). */
export const ALB_PLAYBOOK = path.join(PROJECT_ROOT, "bench", "peers", "upgrade-alb.yml");
/** The deregister task's name in bench/peers/tasks/alb-take-out.yml. */
export const DEREGISTER_TASK = "Deregister from the target group (wait until unused)";
/** The drain task's name in bench/peers/tasks/take-out-and-upgrade.yml. */
export const DRAIN_TASK = "Drain (wait until no session is left)";
export const STOP_TASK = "Stop Glance";
const PLAYBOOK_TIMEOUT_MS = 15 * 60_000;

/** What the inventory needs of a lab. */
export type InventoryLab = Pick<LabState, "dir" | "toRelease" | "glanceNodeBin" | "ports"> & {
  nodes: Array<Pick<LabState["nodes"][number], "name" | "healthUrl">>;
  haproxy: Pick<LabState["haproxy"], "runtimeApi" | "backendName">;
  /** The lab ALB, when the lab has one: its target group goes in the inventory too. */
  alb?: Pick<NonNullable<LabState["alb"]>, "targetGroupArn" | "region" | "endpoint" | "instanceIds" | "port">;
};

/** The venv scripts/setup-ansible.sh installs into (it prints it last); installs on first use. */
export function ansibleVenv(): string {
  const out = execFileSync("bash", [path.join(PROJECT_ROOT, "scripts", "setup-ansible.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").pop() ?? "";
}

/** The environment ansible-playbook runs in: our collections only, json callback, temp dirs in `home`. */
export function ansibleEnv(venv: string, home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ANSIBLE_HOME: home,
    ANSIBLE_LOCAL_TEMP: path.join(home, "tmp"),
    ANSIBLE_COLLECTIONS_PATH: path.join(venv, "collections"),
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH: "false",
    ANSIBLE_STDOUT_CALLBACK: "ansible.posix.json",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_RETRY_FILES_ENABLED: "false",
    ANSIBLE_DEPRECATION_WARNINGS: "false",
  };
}

/**
 * The inventory for a lab: node-1 is the NEW NODE, the rest follow one at a time. With the lab ALB,
 * each host's target (its instance id and port) and the target group (upgrade-alb.yml's variables).
 */
export function inventoryFor(lab: InventoryLab): Record<string, unknown> {
  const alb = lab.alb;
  const host = (n: InventoryLab["nodes"][number]) => [
    n.name,
    {
      haproxy_server: n.name,
      health_url: n.healthUrl,
      ...(alb ? { target_id: alb.instanceIds[n.name], target_port: alb.port } : {}),
    },
  ];
  const [first, ...rest] = lab.nodes;
  return {
    all: {
      vars: {
        ansible_connection: "local",
        ansible_python_interpreter: "{{ ansible_playbook_python }}",
        lab_dir: lab.dir,
        glance_node: lab.glanceNodeBin,
        haproxy_socket: lab.haproxy.runtimeApi.replace(/^unix:/, ""),
        haproxy_backend: lab.haproxy.backendName,
        target_release: lab.toRelease,
        target_version: releaseInfo(lab.toRelease).glanceVersion,
        drain_timeout_seconds: 60,
        health_timeout_seconds: 60,
        db_host: "127.0.0.1",
        db_port: lab.ports.mariadb,
        db_name: LAB_CREDENTIALS.database,
        // Lab-only credentials (lab/lab.ts); a real inventory keeps them in ansible-vault.
        db_admin_user: LAB_CREDENTIALS.admin.user,
        db_admin_password: LAB_CREDENTIALS.admin.password,
        backup_path: path.join(lab.dir, "backups", `glance-before-${lab.toRelease}.sql`),
        ...(alb
          ? { target_group_arn: alb.targetGroupArn, aws_region: alb.region, aws_endpoint_url: alb.endpoint }
          : {}),
      },
      children: {
        glance_new: { hosts: Object.fromEntries([host(first)]) },
        glance_rest: { hosts: Object.fromEntries(rest.map(host)) },
      },
    },
  };
}

export function writeInventory(lab: InventoryLab, file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, stringify(inventoryFor(lab)), { mode: 0o600 });
  return file;
}

export interface PlaybookRun {
  code: number;
  wallMs: number;
  stdout: string;
  stderr: string;
  tasks: TaskTiming[];
}

/** Runs ansible-playbook with `args` (after the inventory and playbook), bounded in time. */
export async function runPlaybook(
  venv: string,
  inventory: string,
  runDir: string,
  args: string[] = [],
  playbook: string = PLAYBOOK,
): Promise<PlaybookRun> {
  fs.mkdirSync(path.join(runDir, "ansible-home", "tmp"), { recursive: true });
  const started = performance.now();
  const child = spawn(path.join(venv, "bin", "ansible-playbook"), ["-i", inventory, ...args, playbook], {
    env: ansibleEnv(venv, path.join(runDir, "ansible-home")),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => {
    stderr += `\nbench: ansible-playbook stopped after ${PLAYBOOK_TIMEOUT_MS / 1000} s\n`;
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
  }, PLAYBOOK_TIMEOUT_MS);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  clearTimeout(killer);
  const wallMs = performance.now() - started;
  fs.writeFileSync(path.join(runDir, "ansible-playbook.json"), stdout);
  fs.writeFileSync(path.join(runDir, "ansible-playbook.stderr"), stderr);
  let tasks: TaskTiming[] = [];
  try {
    tasks = taskTimings(stdout);
  } catch {
    // --syntax-check prints no callback document; a crash may not either: the caller reads `code`.
  }
  return { code, wallMs, stdout, stderr, tasks };
}
