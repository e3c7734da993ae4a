/**
 * The files a lab runs from: the glance-node copy, venv links, the upgrade mode and its wheelhouse
 * links, policy and each node's configs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { LAB_POLICY_YAML, writeNodeConfig } from "./glance/config";
import {
  type GlanceServer,
  importSourcePort,
  LAB_CREDENTIALS,
  type LabNode,
  type LabState,
  type UpgradeMode,
} from "./state";

function databaseUrl(port: number): string {
  const { user, password } = LAB_CREDENTIALS.glance;
  return `mysql+pymysql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${LAB_CREDENTIALS.database}`;
}

/** lab/bin/glance-node, found from the TypeScript source (lab/) or the compiled module (dist/lab/). */
function glanceNodeSource(): string {
  const candidates = [
    path.join(__dirname, "bin", "glance-node"),
    path.join(__dirname, "..", "..", "lab", "bin", "glance-node"),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined)
    throw new Error(`lab/bin/glance-node not found (looked at ${candidates.join(", ")})`);
  return found;
}

/** Files: bin copy, venv links, mode, policy, and each node's configs (rewritten every time; cheap). */
export function writeLabFiles(
  dir: string,
  nodes: LabNode[],
  releases: LabState["releases"],
  mariadbPort: number,
  fromRelease: string,
  upgrade: { mode: UpgradeMode; wheelhouses: Record<string, string> } = { mode: "switch", wheelhouses: {} },
  server: GlanceServer = "eventlet",
): void {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  fs.copyFileSync(glanceNodeSource(), path.join(dir, "bin", "glance-node"));
  fs.chmodSync(path.join(dir, "bin", "glance-node"), 0o755);
  fs.mkdirSync(path.join(dir, "venvs"), { recursive: true });
  for (const [release, { venv }] of Object.entries(releases)) {
    const link = path.join(dir, "venvs", release);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(venv, link);
  }
  // What glance-node's install and prestage read: the mode, and the wheelhouses (links into the cache).
  fs.writeFileSync(path.join(dir, "upgrade-mode"), `${upgrade.mode}\n`);
  fs.rmSync(path.join(dir, "wheelhouses"), { recursive: true, force: true });
  if (upgrade.mode === "wheelhouse") {
    fs.mkdirSync(path.join(dir, "wheelhouses"), { recursive: true });
    for (const [release, wheelhouse] of Object.entries(upgrade.wheelhouses)) {
      fs.symlinkSync(wheelhouse, path.join(dir, "wheelhouses", release));
    }
  }
  fs.mkdirSync(path.join(dir, "etc"), { recursive: true });
  const policyFile = path.join(dir, "etc", "policy.yaml");
  fs.writeFileSync(policyFile, LAB_POLICY_YAML);
  const imagesDir = path.join(dir, "images");
  fs.mkdirSync(imagesDir, { recursive: true });
  for (const node of nodes) {
    for (const [release, { venv }] of Object.entries(releases)) {
      writeNodeConfig({
        nodeDir: node.dir,
        release,
        venv,
        bindPort: node.port,
        databaseUrl: databaseUrl(mariadbPort),
        imagesDir,
        policyFile,
        selfReferenceUrl: node.selfUrl,
        importPorts: [importSourcePort(nodes)],
      });
    }
    // A node keeps the release it was switched to; only a new node starts on the fleet's release.
    const releaseFile = path.join(node.dir, "release");
    if (!fs.existsSync(releaseFile)) fs.writeFileSync(releaseFile, `${fromRelease}\n`);
    // Likewise what serves it (lab/bin/glance-node server): a new node starts under `server`.
    const serverFile = path.join(node.dir, "server");
    if (!fs.existsSync(serverFile)) fs.writeFileSync(serverFile, `${server}\n`);
  }
}
