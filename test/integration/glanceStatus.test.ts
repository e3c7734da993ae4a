/**
 * The NEW NODE's `glance-status upgrade check` step, run as the program runs it (the node script,
 * locally, under bash) against upstream's real `glance-status` (Glance 28.2.0) with configs that make
 * it pass, warn and fail. Exit 0 passes; 1 passes and says what warned; 2 or anything else fails the
 * step with upstream's check names and details in its error.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNodeScript } from "../../steps/node/scripts";
import { venvDir } from "../../lab/venvs";
import { runScript } from "../../steps/exec/run";
import { haproxyStack, parsed } from "../unit/fixtures";
import { recordingContext, stepFailure } from "../support/stepHarness";

let dir: string;
const glanceStatus = () => path.join(venvDir("2024.1"), "bin", "glance-status");

function checkScript(conf: string): string {
  const config = parsed(
    haproxyStack(2, { nodeCommands: { glanceStatusCommand: `${glanceStatus()} --config-file ${conf}` } }),
  );
  return buildNodeScript("upgrade-check", config, { name: "node-1" });
}

function conf(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-glance-status-"));
  fs.writeFileSync(path.join(dir, "policy.json"), "{}\n");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the upgrade-check step with upstream's glance-status", () => {
  it("passes on a clean config", async () => {
    const script = checkScript(conf("ok.conf", "[DEFAULT]\n"));
    const result = await runScript({ script, transport: "local", timeoutSeconds: 120 }, recordingContext());
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split("\n").at(-1)).toBe("glance-status upgrade check: success");
  });

  it("passes a warning (exit 1) and names the check that warned (a stand-in: 28.2.0 has no check that warns)", async () => {
    // Upstream's table shape (oslo.upgradecheck), with one check that warns over two detail rows.
    const standIn = conf(
      "warn.sh",
      [
        "#!/bin/bash",
        "cat <<'TABLE'",
        "+----------------------------------------------+",
        "| Upgrade Check Results                        |",
        "+----------------------------------------------+",
        "| Check: Sheepdog Driver Removal               |",
        "| Result: Success                              |",
        "| Details: None                                |",
        "+----------------------------------------------+",
        "| Check: Stand-in Deprecation                  |",
        "| Result: Warning                              |",
        "| Details: an option the next release drops    |",
        "|   is still set                               |",
        "+----------------------------------------------+",
        "TABLE",
        "exit 1",
        "",
      ].join("\n"),
    );
    fs.chmodSync(standIn, 0o755);
    const config = parsed(haproxyStack(2, { nodeCommands: { glanceStatusCommand: standIn } }));
    const script = buildNodeScript("upgrade-check", config, { name: "node-1" });
    const result = await runScript({ script, transport: "local", timeoutSeconds: 30 }, recordingContext());
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split("\n").at(-1)).toBe(
      "glance-status upgrade check: WARNING (exit 1): Stand-in Deprecation: an option the next release drops is still set",
    );
  });

  it("fails on a JSON policy file, which 28.2.0 reports as a failure", async () => {
    const script = checkScript(
      conf("json-policy.conf", `[oslo_policy]\npolicy_file = ${path.join(dir, "policy.json")}\n`),
    );
    const err = await stepFailure(
      runScript({ script, transport: "local", timeoutSeconds: 120 }, recordingContext()),
    );
    expect(err.message).toContain(
      "glance-status upgrade check FAILED (exit 2): Policy File JSON to YAML Migration: Your policy file is JSON-formatted",
    );
  });

  it("fails on exit 2 with upstream's check and its details in the error", async () => {
    const script = checkScript(conf("fail.conf", "[DEFAULT]\nowner_is_tenant = False\n"));
    const err = await stepFailure(
      runScript({ script, transport: "local", timeoutSeconds: 120 }, recordingContext()),
    );
    expect(err.message).toContain("failed with exit code 1");
    expect(err.message).toContain(
      'glance-status upgrade check FAILED (exit 2): Config option owner_is_tenant removal: The "owner_is_tenant" option has been removed',
    );
    expect(err.message).toContain("Nothing was changed");
  });

  it("fails when glance-status itself cannot run (not exit 0, 1 or 2)", async () => {
    const config = parsed(
      haproxyStack(2, { nodeCommands: { glanceStatusCommand: "/nonexistent/glance-status" } }),
    );
    const script = buildNodeScript("upgrade-check", config, { name: "node-1" });
    const err = await stepFailure(
      runScript({ script, transport: "local", timeoutSeconds: 30 }, recordingContext()),
    );
    expect(err.message).toContain("glance-status upgrade check ERROR (exit 127)");
  });
});
