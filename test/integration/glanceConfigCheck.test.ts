/**
 * The NEW NODE's config check (steps/node/glanceConfigCheck.ts), run as the program runs it (the
 * node script, locally, under bash) with the Python of every release the lab runs, 2023.1 to 2026.1:
 * - the lab's own glance-api.conf (lab/glance/config.ts) with a removed option (`location_strategy`)
 *   and a misspelled one added: exactly the misspelled one is unread up to 2024.1 (where
 *   `location_strategy` is still read, deprecated for removal, and named so), and both from 2024.2
 *   (29.x removed it); nothing of the lab's own options is ever reported (no false positive);
 * - the release's own sample config with every option uncommented, multi-store (a backend of every
 *   store type, `[glance_store] default_backend`, the reserved stores' sections), which plain
 *   oslo-config-validator cannot check: only the options the installed libraries really dropped
 *   since the sample was generated are reported;
 * - the verdicts the step gives: pass, acknowledged, and the check not able to run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNodeScript } from "../../steps/node/scripts";
import { installedGlanceVersion, venvDir } from "../../lab/venvs";
import { RELEASES } from "../../lab/releases";
import { renderGlanceApiConf } from "../../lab/glance/config";
import { runScript } from "../../steps/exec/run";
import { haproxyStack, parsed } from "../unit/fixtures";
import { recordingContext, stepFailure } from "../support/stepHarness";

let dir: string;
const releases = Object.keys(RELEASES);
/** The first release without `location_strategy` (and `allow_additional_image_properties`). */
const REMOVED_IN = "2024.2";

function checkScript(release: string, files: string[], acknowledge: string[] = [], python?: string): string {
  const config = parsed(
    haproxyStack(2, {
      nodeCommands: { glancePythonCommand: python ?? path.join(venvDir(release), "bin", "python") },
      glanceConfig: { files, acknowledge },
    }),
  );
  return buildNodeScript("config-check", config, { name: "node-1" });
}

const run = (script: string) =>
  runScript({ script, transport: "local", timeoutSeconds: 120 }, recordingContext());

/** The lab's glance-api.conf for a release, as lab/glance/config.ts renders it for a node. */
function labConf(release: string, extra = ""): string {
  const text = renderGlanceApiConf(
    {
      nodeDir: path.join(dir, "node-1"),
      release,
      venv: venvDir(release),
      bindPort: 19292,
      databaseUrl: "mysql+pymysql://glance:secret@127.0.0.1:3306/glance",
      imagesDir: path.join(dir, "images"),
      policyFile: path.join(dir, "policy.yaml"),
      selfReferenceUrl: "http://127.0.0.1:19293",
      importPorts: [18080],
    },
    path.join(dir, "paste.ini"),
  ).replace("[DEFAULT]\n", `[DEFAULT]\n${extra}`);
  const file = path.join(dir, `lab-${release}.conf`);
  fs.writeFileSync(file, text);
  return file;
}

/** Store types, as enabled_backends names them, for the sample's per-store sections. */
const SAMPLE_BACKENDS: Record<string, string> = {
  file: "file",
  "glance.store.http.store": "http",
  "glance.store.rbd.store": "rbd",
  "glance.store.s3.store": "s3",
  "glance.store.swift.store": "swift",
  "glance.store.vmware_datastore.store": "vmware",
};

/**
 * The release's shipped sample glance-api.conf with every option uncommented, as a multi-store config.
 * Left out: the cinder store's options (`[cinder]`, `[os_brick]`, `cinder_*` and `rootwrap_config`):
 * its driver needs os_brick, which the lab's venvs do not install, so glance_store cannot load it here.
 */
function sampleConf(release: string): string {
  const shipped = fs.readFileSync(path.join(venvDir(release), "etc", "glance", "glance-api.conf"), "utf8");
  const lines: string[] = [];
  let section = "";
  for (const line of shipped.split("\n")) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      if (section === "cinder" || section === "os_brick") continue;
      lines.push(line);
      if (section === "DEFAULT") {
        const backends = Object.entries(SAMPLE_BACKENDS).map(([name, type]) => `${name}:${type}`);
        lines.push(`enabled_backends = ${backends.join(", ")}`);
      }
      if (section === "glance_store") lines.push("default_backend = file");
      continue;
    }
    if (section === "cinder" || section === "os_brick") continue;
    const option = /^#([a-z][a-z0-9_]*) = (.*)$/.exec(line);
    if (!option || option[1] === "enabled_backends") continue;
    if (/^(cinder_|rootwrap_config$)/.test(option[1])) continue;
    lines.push(`${option[1]} = ${option[2]}`);
  }
  lines.push("[os_glance_staging_store]", `filesystem_store_datadir = ${path.join(dir, "staging")}`);
  lines.push("[os_glance_tasks_store]", `filesystem_store_datadir = ${path.join(dir, "tasks")}`);
  const file = path.join(dir, `sample-${release}.conf`);
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/**
 * What the sample of a release sets that its installed libraries (the release's upper constraints)
 * no longer read: the sample was generated with older ones. Each checked in the venv's own code.
 */
const SAMPLE_UNREAD: Record<string, string[]> = {
  // oslo.db 14.1.1 dropped the MySQL NDB Cluster support.
  "2023.2": ["database/mysql_enable_ndb"],
  // oslo.log 8.x dropped watch_log_file; oslo.middleware 8.0.0 the healthcheck's `path`.
  "2026.1": ["DEFAULT/watch_log_file", "healthcheck/path"],
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-config-check-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.concurrent.each(releases)("the config check with glance of release %s", (release) => {
  it("reports exactly the removed and the misspelled option in the lab's config, nothing of its own", async () => {
    const version = installedGlanceVersion(release);
    expect(version, `no venv for ${release}: run scripts/setup-glance.sh ${release}`).toBe(
      RELEASES[release].glanceVersion,
    );
    const conf = labConf(release, "location_strategy = store_type\nshow_multiple_locatoins = true\n");
    const err = await stepFailure(run(checkScript(release, [conf])));
    const unread = [
      ...(release >= REMOVED_IN ? ["DEFAULT/location_strategy"] : []),
      "DEFAULT/show_multiple_locatoins",
    ];
    const verdict =
      /config check FAILED: (glance .*? does not read .*?)(; deprecated for removal[^;.]*)?\. Nothing/.exec(
        err.message,
      );
    expect(verdict?.[1]).toBe(
      `glance ${version} does not read ${unread.length} option(s) of ${conf}: ${unread.join(", ")}`,
    );
    // Deprecated in 2024.1 (Caracal) for removal in 2024.2: named while it is still read.
    expect((verdict?.[2] ?? "").includes("DEFAULT/location_strategy")).toBe(release === "2024.1");
    expect(err.message).toContain("Nothing was changed (no schema step ran; the fleet serves)");
  });

  it("reads the release's whole sample config, multi-store with the reserved stores", async () => {
    const conf = sampleConf(release);
    const unread = SAMPLE_UNREAD[release] ?? [];
    const script = checkScript(release, [conf], unread);
    const result = await run(script);
    expect(result.exitCode).toBe(0);
    const verdict = result.stdout.trim().split("\n").at(-1) ?? "";
    expect(verdict).toMatch(
      new RegExp(
        `^config check: glance ${RELEASES[release].glanceVersion} reads every option of ${conf} \\(\\d+\\)`,
      ),
    );
    // Without acknowledging them, exactly those are reported.
    if (unread.length > 0) {
      const err = await stepFailure(run(checkScript(release, [conf])));
      expect(err.message).toContain(
        `does not read ${unread.length} option(s) of ${conf}: ${unread.join(", ")}`,
      );
    }
  });
});

describe.concurrent("the config check's verdicts", () => {
  const release = "2026.1";

  it("passes the lab's config as it is, and names an acknowledged unread option", async () => {
    const clean = await run(checkScript(release, [labConf(release)]));
    expect(clean.stdout).toMatch(/config check: glance 32\.0\.0 reads every option of \S+ \(16\)[;\n]/);
    const conf = labConf(release, "site_plugin_option = 1\n");
    const acknowledged = await run(checkScript(release, [conf], ["DEFAULT/site_plugin_option"]));
    expect(acknowledged.stdout).toContain("; not read, acknowledged: DEFAULT/site_plugin_option");
  });

  it("fails when the Python is not the node's Glance, or the file is missing", async () => {
    const notGlance = await stepFailure(
      run(checkScript(release, [labConf(release)], [], "/usr/bin/python3")),
    );
    expect(notGlance.message).toContain("config check ERROR (exit 2)");
    expect(notGlance.message).toContain("this Python does not import Glance");
    const missing = await stepFailure(run(checkScript(release, [path.join(dir, "absent.conf")])));
    expect(missing.message).toContain(`${path.join(dir, "absent.conf")} is not a file on this node`);
  });

  it("fails when the Python command answers without the check's verdict (a stand-in that ignores it)", async () => {
    const err = await stepFailure(
      run(checkScript(release, [labConf(release)], [], "bash -c 'cat >/dev/null'")),
    );
    expect(err.message).toContain("exited 0 without the check's verdict");
  });
});
