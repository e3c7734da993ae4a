/**
 * Issue 30, finding 8: what a step provider killed mid-step leaves behind. A provider-like process
 * (test/support/providerLike.ts) runs a script (over ssh to a real sshd, or locally) and is killed
 * while the script runs; afterwards no file under its TMPDIR may hold the private key, and no
 * process of the step may still run.
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
async function providerMidStep(
  run: ScriptRun,
  tmpdir: string,
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(VITE_NODE, [PROVIDER_LIKE], {
    env: { ...process.env, TMPDIR: tmpdir, PROVIDER_LIKE_RUN: JSON.stringify(run) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the step did not start: ${out}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (/step running: pid=\d+/.test(out)) {
        clearTimeout(timer);
        resolve();
      } else if (/step (failed|finished)/.test(out)) {
        clearTimeout(timer);
        reject(new Error(out));
      }
    });
  });
  return { child, out: () => out };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isAlive(pid);
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
      const { child } = await providerMidStep(sshRun('echo "pid=$$"; sleep 30'), tmpdir);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
      expect(filesHolding(tmpdir, keyLine())).toEqual([]);
    },
  );

  // The script's process group (a local bash and its sleep) must not outlive the provider, however
  // it ends: SIGTERM/SIGINT through the abort signal, SIGKILL through the watchdog (reaper.ts).
  it.each(["SIGKILL", "SIGTERM", "SIGINT"] as const)(
    "%s: the step's processes die with the provider",
    async (signal) => {
      const tmpdir = fs.mkdtempSync(path.join(tmp, `local-${signal}-`));
      const { child, out } = await providerMidStep(
        { script: 'echo "pid=$$"; sleep 30 & echo "sleep=$!"; wait', transport: "local" },
        tmpdir,
      );
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const pids = [...out().matchAll(/(?:pid|sleep)=(\d+)/g)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(2);
      expect(pids.every(isAlive)).toBe(true);
      child.kill(signal);
      await exited;
      const started = Date.now();
      for (const pid of pids)
        expect(await gone(pid, 10_000), `pid ${pid} still runs after ${signal}`).toBe(true);
      console.log(`${signal}: the step's processes were gone ${Date.now() - started} ms after the provider`);
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
