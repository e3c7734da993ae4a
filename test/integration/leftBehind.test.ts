/**
 * Issue 30, finding 8: what a step provider killed mid-step leaves behind. A provider-like process
 * (test/support/providerLike.ts) runs a script over ssh to a real sshd and is killed while the
 * script runs; afterwards no file under its TMPDIR may hold the private key.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type RunningSshd } from "../../lab/services/sshd";
import type { ScriptRun } from "../../steps/exec/types";

const VITE_NODE = path.join(__dirname, "../../node_modules/.bin/vite-node");
const PROVIDER_LIKE = path.join(__dirname, "../support/providerLike.ts");

/** Every regular file under `dir` whose content holds `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile()) continue;
    try {
      if (fs.readFileSync(file, "utf8").includes(needle)) found.push(file);
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  return found;
}

/** Starts the provider-like process with its own TMPDIR and resolves once its script runs. */
async function providerMidStep(run: ScriptRun, tmpdir: string): Promise<ChildProcess> {
  const child = spawn(VITE_NODE, [PROVIDER_LIKE], {
    env: { ...process.env, TMPDIR: tmpdir, PROVIDER_LIKE_RUN: JSON.stringify(run) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the step did not start: ${out}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("step running")) {
        clearTimeout(timer);
        resolve();
      } else if (/step (failed|finished)/.test(out)) {
        clearTimeout(timer);
        reject(new Error(out));
      }
    });
  });
  return child;
}

describe("a provider killed mid-step (real sshd)", () => {
  let tmp: string;
  let sshd: RunningSshd;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-left-"));
    sshd = await startSshd({ dir: path.join(tmp, "sshd") });
  });
  afterAll(async () => {
    await sshd?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const sshRun = (script: string): ScriptRun => ({
    script,
    transport: "ssh",
    ssh: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKeyPolicy: "strict",
      knownHostsFile: sshd.knownHostsFile,
      connectTimeoutSeconds: 5,
    },
  });
  const keyLine = () => sshd.privateKey.split("\n")[1];

  it.each(["SIGKILL", "SIGTERM", "SIGINT"] as const)(
    "%s leaves no file holding the private key",
    async (signal) => {
      const tmpdir = fs.mkdtempSync(path.join(tmp, `provider-${signal}-`));
      const child = await providerMidStep(sshRun("echo started; sleep 30"), tmpdir);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
      expect(filesHolding(tmpdir, keyLine())).toEqual([]);
    },
  );

  // The negative control: the scan does find a key that is left in a file.
  it("the scan finds a key left in a file", () => {
    const tmpdir = fs.mkdtempSync(path.join(tmp, "control-"));
    fs.mkdirSync(path.join(tmpdir, "gru-ssh-x"));
    fs.writeFileSync(path.join(tmpdir, "gru-ssh-x", "key-1"), sshd.privateKey, { mode: 0o600 });
    expect(filesHolding(tmpdir, keyLine())).toEqual([path.join(tmpdir, "gru-ssh-x", "key-1")]);
  });
});
