import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../driver/environment";
import { type LabOptions, LabState, labDown, labUp } from "../../lab/lab";
import { LAB_IDENTITY_HEADERS, nodePortRun } from "../../lab/state";
import { isAbnormal, readHaproxyLog } from "../../lab/load/haproxyLog";
import { labHaproxyLog } from "../../lab/load/verdict";
import { findFreePort, findFreePortRun } from "../../lab/services/ports";

/** `glance-manage db check` with the NEW release's code (the old code misreads a newer schema). */
export function dbCheck(lab: LabState): number {
  const glanceManage = path.join(lab.releases[lab.toRelease].venv, "bin", "glance-manage");
  const conf = path.join(lab.dir, "nodes", lab.nodes[0].name, lab.toRelease, "glance-api.conf");
  return spawnSync(glanceManage, ["--config-file", conf, "db", "check"], { stdio: "ignore" }).status ?? -1;
}

/** The sha256 of a download; straight from a node too (with the identity the lab's HAProxy would set). */
export function sha256Of(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: LAB_IDENTITY_HEADERS }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
          return;
        }
        const hash = createHash("sha256");
        res.on("data", (chunk: Buffer) => hash.update(chunk));
        res.on("end", () => resolve(hash.digest("hex")));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

/** A lab of `nodes` real Glance nodes in a fresh temp dir on free loopback ports. */
export async function freshLab(
  nodes: number,
  log: (line: string) => void = () => undefined,
  opts: Pick<LabOptions, "upgradeMode" | "alb" | "galera" | "fromRelease" | "toRelease" | "server"> = {},
): Promise<LabState> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-lab-"));
  return labUp({
    dir,
    nodes,
    ports: {
      mariadb: await findFreePort(),
      haproxyFrontend: await findFreePort(),
      haproxyRuntimeTcp: await findFreePort(),
      firstNode: await findFreePortRun(nodePortRun(nodes)),
    },
    log,
    ...opts,
  });
}

/**
 * Kept in .work/lab-logs/ for diagnosis: Glance logs with errors other than the known harmless ones,
 * MariaDB's error log when it recorded a deadlock, HAProxy's abnormal lines.
 */
function keepErrorLogs(lab: LabState): void {
  const keep = path.join(PROJECT_ROOT, ".work", "lab-logs", path.basename(lab.dir));
  const harmless = /os_brick|stevedore\.extension/;
  for (const node of lab.nodes) {
    const log = path.join(node.dir, "glance-api.log");
    if (!fs.existsSync(log)) continue;
    const text = fs.readFileSync(log, "utf8");
    if (!text.split("\n").some((line) => / (ERROR|CRITICAL) /.test(line) && !harmless.test(line))) continue;
    fs.mkdirSync(keep, { recursive: true });
    fs.copyFileSync(log, path.join(keep, `${node.name}-glance-api.log`));
  }
  const mariadbLog = path.join(lab.dir, "mariadb", "mariadbd.err");
  if (fs.existsSync(mariadbLog) && /deadlock/i.test(fs.readFileSync(mariadbLog, "utf8"))) {
    fs.mkdirSync(keep, { recursive: true });
    fs.copyFileSync(mariadbLog, path.join(keep, "mariadbd.err"));
  }
  const abnormal = readHaproxyLog(labHaproxyLog(lab))
    .filter(isAbnormal)
    .map((line) => line.raw);
  if (abnormal.length > 0) {
    fs.mkdirSync(keep, { recursive: true });
    fs.writeFileSync(path.join(keep, "haproxy-abnormal.log"), `${abnormal.join("\n")}\n`);
  }
}

export async function removeLab(lab: LabState | undefined): Promise<void> {
  if (!lab) return;
  keepErrorLogs(lab);
  await labDown(lab.dir, { purge: true });
  fs.rmSync(lab.dir, { recursive: true, force: true });
}
