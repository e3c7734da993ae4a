/**
 * The lab's release table as scripts/setup-glance.sh reads it (one release per line), and the files a
 * lab node runs from: the paste ini of both Glance layouts and the uWSGI ini.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { renderPasteIni, renderUwsgiIni, uwsgiControlFiles } from "../../lab/glance/config";
import { RELEASES } from "../../lab/releases";

const ROOT = path.join(__dirname, "..", "..");

/** What setup-glance.sh's sed reads for a release's field (the same expression as the script's). */
function scriptField(release: string, field: string): string {
  const result = spawnSync(
    "sed",
    ["-n", `s/^ *"${release}": *{.*${field}: *"\\([^"]*\\)".*/\\1/p`, path.join(ROOT, "lab", "releases.ts")],
    { encoding: "utf8" },
  );
  return result.stdout.trim();
}

describe("the release table", () => {
  it("setup-glance.sh knows exactly the releases of lab/releases.ts, with the same fields", () => {
    const unknown = spawnSync("bash", [path.join(ROOT, "scripts", "setup-glance.sh"), "no-such-release"], {
      encoding: "utf8",
    });
    expect(unknown.status).toBe(1);
    const known = /known: (.*)$/m.exec(unknown.stderr)?.[1].trim().split(" ");
    expect(known).toEqual(Object.keys(RELEASES));
    for (const [release, info] of Object.entries(RELEASES)) {
      expect(scriptField(release, "glanceVersion")).toBe(info.glanceVersion);
      expect(scriptField(release, "constraintsFile")).toBe(info.constraintsFile);
      expect(scriptField(release, "wsgiServer")).toBe(info.wsgiServer ?? "");
      expect(fs.existsSync(path.join(ROOT, info.constraintsFile)), info.constraintsFile).toBe(true);
    }
  });

  it("runs every release from 2023.1 to 2026.1, uWSGI from 2025.1 (the first with glance.wsgi.api)", () => {
    expect(Object.keys(RELEASES)).toEqual([
      "2023.1",
      "2023.2",
      "2024.1",
      "2024.2",
      "2025.1",
      "2025.2",
      "2026.1",
    ]);
    expect(
      Object.entries(RELEASES)
        .filter(([, info]) => info.wsgiServer !== undefined)
        .map(([release]) => release),
    ).toEqual(["2025.1", "2025.2", "2026.1"]);
  });
});

describe("renderPasteIni", () => {
  const composite = [
    "[composite:api]",
    "paste.composite_factory = glance.api:pipeline_factory",
    "default = cors http_proxy_to_wsgi versionnegotiation osprofiler unauthenticated-context rootapp",
    "",
    "[filter:healthcheck]",
    "disable_by_file_path = /etc/glance/healthcheck_disable",
    "",
  ].join("\n");
  const pipelines = [
    "[pipeline:glance-api]",
    "pipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation osprofiler unauthenticated-context rootapp",
    "",
    "[pipeline:glance-api-keystone]",
    "pipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation osprofiler authtoken context  rootapp",
    "",
    "[filter:healthcheck]",
    "disable_by_file_path = /etc/glance/healthcheck_disable",
    "",
  ].join("\n");

  it("adds the lab flavor to the composite layout (Glance 27 on) and points the disable file at the node's", () => {
    const rendered = renderPasteIni(composite, "/lab/nodes/node-1/healthcheck_disable");
    expect(rendered).toContain("lab = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp");
    expect(rendered).toContain("[composite:glance-api-lab]");
    expect(rendered).toContain("disable_by_file_path = /lab/nodes/node-1/healthcheck_disable");
    expect(rendered).not.toContain("/etc/glance/healthcheck_disable");
  });

  it("adds the lab flavor as a pipeline to the per-flavor layout (Glance 26, 2023.1), the health check in it", () => {
    const rendered = renderPasteIni(pipelines, "/lab/nodes/node-1/healthcheck_disable");
    expect(rendered).toContain(
      "[pipeline:glance-api-lab]\npipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation osprofiler context rootapp",
    );
    expect(rendered).toContain("disable_by_file_path = /lab/nodes/node-1/healthcheck_disable");
    expect(rendered).not.toContain("[composite:glance-api-lab]");
  });

  it("refuses a paste ini of neither layout, or without the disable file", () => {
    expect(() => renderPasteIni("[filter:healthcheck]\ndisable_by_file_path = /x\n", "/d")).toThrow(
      /no \[composite:api\] section with a default pipeline/,
    );
    expect(() => renderPasteIni(composite.replace(/^disable_by_file_path.*$/m, ""), "/d")).toThrow(
      /no disable_by_file_path line/,
    );
  });
});

describe("renderUwsgiIni", () => {
  it("serves glance.wsgi.api on the node's port with Glance's template options and the node's control files", () => {
    const ini = renderUwsgiIni({ release: "2026.1", nodeDir: "/lab/nodes/node-2", bindPort: 19302 });
    const { masterFifo, statsSocket } = uwsgiControlFiles("/lab/nodes/node-2");
    for (const line of [
      "[uwsgi]",
      "http-socket = 127.0.0.1:19302",
      "module = glance.wsgi.api:application",
      "master = true",
      "lazy-apps = true",
      "http-auto-chunked = true",
      "http-chunked-input = true",
      "die-on-term = true",
      `master-fifo = ${masterFifo}`,
      `stats = ${statsSocket}`,
    ]) {
      expect(ini.split("\n")).toContain(line);
    }
    // The config dir comes from the environment glance-node sets: an ini `env =` is too late for pyuwsgi.
    expect(ini).not.toMatch(/^env\s*=/m);
  });
});
