/**
 * A stack of the benchmarks' own (folder and file backend under .work/bench/), run through the real
 * driver as an operator runs it: `node dist/driver/cli.js <command> --stack NAME --work-dir FOLDER`.
 * Each run is timed from spawn to exit, with the moments its output reaches each phase.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { engineRoot, PROJECT_ROOT } from "../../driver/environment";
import { setSecrets, writeStackFolder } from "../../lab/stackFile";
import type { TimelineEvent } from "../../steps/record";
import { readTimeline } from "../../test/support/driverFixture";
import { peakByName, sampleDescendants } from "./processTree";

const PASSPHRASE = "bench-only-passphrase";
const BENCH_ROOT = path.join(PROJECT_ROOT, ".work", "bench");
const DRIVER = path.join(PROJECT_ROOT, "dist", "driver", "cli.js");
const PEAK_PRELOAD = path.join(PROJECT_ROOT, "dist", "bench", "support", "peakMemory.js");
/** Every driver run is bounded: past this it is stopped (its process group), and the run fails. */
const DRIVER_TIMEOUT_MS = 15 * 60_000;

let cachedEngineRoot: string | undefined;
function pulumiBin(): string {
  cachedEngineRoot ??= engineRoot();
  return path.join(cachedEngineRoot, "bin", "pulumi");
}

export interface DriverRun {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Milliseconds from spawn until the runbook, the engine's first line and the result line appeared. */
  phases: { runbook?: number; engine?: number; result?: number };
  /** Peak RSS of the driver's own Node.js process (it also hosts the inline program). */
  driverPeakKib: number;
  /** Peak VmHWM of its descendants by process name (the Pulumi CLI, the provider process). */
  childPeaksKib: Record<string, number>;
  timeline: TimelineEvent[];
}

export class BenchStack {
  readonly name: string;
  readonly folder: string;

  constructor(prefix: string, config: Record<string, unknown>, secrets: Record<string, string>) {
    this.name = `${prefix}-${randomBytes(3).toString("hex")}`;
    this.folder = path.join(BENCH_ROOT, "stacks", this.name);
    fs.rmSync(this.folder, { recursive: true, force: true });
    writeStackFolder(PROJECT_ROOT, this.folder, this.name, config);
    fs.mkdirSync(path.join(BENCH_ROOT, "state"), { recursive: true });
    this.cli(["stack", "select", "--create", "--non-interactive", this.name]);
    setSecrets(pulumiBin(), this.folder, this.name, secrets, this.env);
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_BACKEND_URL: `file://${path.join(BENCH_ROOT, "state")}`,
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
  }

  private cli(args: string[]): string {
    return execFileSync(pulumiBin(), args, {
      cwd: this.folder,
      env: this.env,
      encoding: "utf8",
      maxBuffer: 1024 ** 3,
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** The stack's state with secrets decrypted (lab-only values), as `pulumi stack export --show-secrets`. */
  exportState(): unknown {
    return JSON.parse(this.cli(["stack", "export", "--show-secrets", "--stack", this.name]));
  }

  /** The stack's outputs with secrets shown (`summary`: what the driver's summary table is built from). */
  outputs(): Record<string, unknown> {
    return JSON.parse(
      this.cli(["stack", "output", "--json", "--show-secrets", "--stack", this.name]),
    ) as Record<string, unknown>;
  }

  async driver(command: string, timeoutMs = DRIVER_TIMEOUT_MS): Promise<DriverRun> {
    const runDir = path.join(this.folder, "runs", `${Date.now()}-${command}`);
    fs.mkdirSync(runDir, { recursive: true });
    const peakFile = path.join(runDir, "driver-peak.json");
    const started = performance.now();
    const child = spawn(
      process.execPath,
      // --verbose: the phases below are read from the engine's own lines, which only verbose mode prints.
      ["-r", PEAK_PRELOAD, DRIVER, command, "--stack", this.name, "--work-dir", this.folder, "--verbose"],
      {
        env: { ...this.env, GRU_RUN_DIR: runDir, BENCH_PEAK_FILE: peakFile },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so a timeout stops the Pulumi CLI and the provider with it.
        detached: true,
      },
    );
    const killer = setTimeout(() => {
      stderr += `\nbench: driver ${command} stopped after ${timeoutMs / 1000} s\n`;
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    const sampler = sampleDescendants(child.pid ?? -1);
    const phases: DriverRun["phases"] = {};
    const chunks: string[] = [];
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const at = performance.now() - started;
      if (phases.runbook === undefined && chunk.includes("Glance rolling upgrade to")) phases.runbook = at;
      if (phases.engine === undefined && /^ {2}(Previewing update|Updating|Destroying) \(/m.test(chunk))
        phases.engine = at;
      if (phases.result === undefined && /^(preview|up|up FAILED): /m.test(chunk)) phases.result = at;
      chunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    clearTimeout(killer);
    const wallMs = performance.now() - started;
    const stdout = chunks.join("");
    fs.writeFileSync(path.join(runDir, "driver.log"), `${stdout}\n--- stderr ---\n${stderr}`);
    const peak = fs.existsSync(peakFile)
      ? (JSON.parse(fs.readFileSync(peakFile, "utf8")) as { maxRssKib: number }).maxRssKib
      : 0;
    return {
      command,
      code,
      stdout,
      stderr,
      wallMs,
      phases,
      driverPeakKib: peak,
      childPeaksKib: peakByName(sampler.stop()),
      timeline: readTimeline(path.join(runDir, "timeline.jsonl")),
    };
  }

  /** Runs the driver and throws with its output if it failed. */
  async driverOk(command: string): Promise<DriverRun> {
    const run = await this.driver(command);
    if (run.code !== 0) {
      throw new Error(
        `driver ${command} on stack ${this.name} exited ${run.code}:\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`,
      );
    }
    return run;
  }

  /** Size of the stack's checkpoint file: the file backend rewrites all of it at every step. */
  stateBytes(): number {
    const file = path.join(
      BENCH_ROOT,
      "state",
      ".pulumi",
      "stacks",
      "glance-rolling-upgrade",
      `${this.name}.json`,
    );
    return fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  remove(): void {
    try {
      this.cli(["stack", "rm", "--force", "--yes", "--stack", this.name]);
    } catch {
      // best effort: the stack may be gone already
    }
    fs.rmSync(this.folder, { recursive: true, force: true });
  }
}

/** `preview: {"create":31}` or `up: succeeded; {"create":30}` as numbers. */
export function changeSummary(stdout: string): Record<string, number> {
  const line = stdout.split("\n").find((l) => /^(preview: |up: succeeded; )/.test(l));
  if (!line) return {};
  return JSON.parse(line.slice(line.indexOf("{"))) as Record<string, number>;
}
