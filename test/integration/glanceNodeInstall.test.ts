/**
 * The lab's `glance-node install <node> <version>`: the lab's upgrade command, shaped like the
 * default `apt-get install glance-api=<version>*` (exactly the version it is given, older ones too),
 * so the rollback e2e tests run a command of the default's shape. Runs the real script on a lab
 * layout with two stand-in releases (no Glance needed: the script reads the installed version from
 * the distribution's metadata).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../driver/environment";

const SCRIPT = path.join(PROJECT_ROOT, "lab", "bin", "glance-node");
const RELEASES = { "2023.2": "27.1.1", "2024.1": "28.2.0" } as const;

function glanceNode(lab: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(SCRIPT, [lab, ...args], { encoding: "utf8" }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stderr });
    });
  });
}

describe("glance-node install (the lab's upgrade command, shaped like apt's pinned install)", () => {
  let lab: string;
  const release = () => fs.readFileSync(path.join(lab, "nodes", "node-1", "release"), "utf8").trim();

  beforeAll(() => {
    lab = fs.mkdtempSync(path.join(tmpdir(), "gru-install-"));
    for (const [name, version] of Object.entries(RELEASES)) {
      const venv = path.join(lab, "venvs", name);
      const meta = path.join(venv, "lib", "python3.11", "site-packages", `glance-${version}.dist-info`);
      fs.mkdirSync(meta, { recursive: true });
      fs.writeFileSync(
        path.join(meta, "METADATA"),
        `Metadata-Version: 2.1\nName: glance\nVersion: ${version}\n`,
      );
      fs.mkdirSync(path.join(venv, "bin"));
      fs.writeFileSync(path.join(venv, "bin", "glance-api"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      const conf = path.join(lab, "nodes", "node-1", name);
      fs.mkdirSync(conf, { recursive: true });
      fs.writeFileSync(path.join(conf, "glance-api.conf"), "[DEFAULT]\n");
    }
    fs.writeFileSync(path.join(lab, "nodes", "node-1", "release"), "2023.2\n");
  });
  afterAll(() => fs.rmSync(lab, { recursive: true, force: true }));

  it("installs exactly the version it is given, forward and back", async () => {
    expect((await glanceNode(lab, "install", "node-1", "28.2.0")).code).toBe(0);
    expect(release()).toBe("2024.1");
    expect((await glanceNode(lab, "install", "node-1", "27.1.1")).code).toBe(0);
    expect(release()).toBe("2023.2");
  });

  it("accepts a version prefix as apt's `=<version>*` does, but not a different version", async () => {
    expect((await glanceNode(lab, "install", "node-1", "28.2")).code).toBe(0);
    expect(release()).toBe("2024.1");
    const refused = await glanceNode(lab, "install", "node-1", "28.1.0");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("no Glance 28.1.0 in lab");
    expect(refused.stderr).toContain("27.1.1 (2023.2)");
    expect(refused.stderr).toContain("28.2.0 (2024.1)");
    expect(release()).toBe("2024.1");
  });

  it("matches whole version parts: 28.20 is not 28.2.0", async () => {
    const refused = await glanceNode(lab, "install", "node-1", "28.20");
    expect(refused.code).toBe(1);
    expect(release()).toBe("2024.1");
  });
});
