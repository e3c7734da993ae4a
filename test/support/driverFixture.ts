import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { engineRoot, PROJECT_ROOT } from "../../driver/environment";
import { renderStackFile, setSecrets, writeStackFolder } from "../../lab/stackFile";
import { readTimeline, TimelineEvent } from "../../steps/record";

export { readTimeline };

export const TEST_PASSPHRASE = "test-only-passphrase";

export interface DriverRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The run's records (progress.jsonl, timeline.jsonl). */
  runDir: string;
  timeline: TimelineEvent[];
}

/** A stack of its own in a folder under .work/ (never the committed stack files). */
export class TestStack {
  readonly folder: string;
  private runs = 0;

  constructor(
    readonly name: string,
    config: Record<string, unknown>,
    secrets: Record<string, string> = {},
  ) {
    this.folder = path.join(PROJECT_ROOT, ".work", "test-stacks", name);
    fs.rmSync(this.folder, { recursive: true, force: true });
    writeStackFolder(PROJECT_ROOT, this.folder, name, config);
    if (Object.keys(secrets).length > 0) this.setSecrets(secrets);
  }

  static unique(
    prefix: string,
    config: Record<string, unknown>,
    secrets: Record<string, string> = {},
  ): TestStack {
    return new TestStack(`${prefix}-${randomBytes(3).toString("hex")}`, config, secrets);
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE,
      PULUMI_BACKEND_URL: `file://${path.join(PROJECT_ROOT, ".work", "state")}`,
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
  }

  setSecrets(secrets: Record<string, string>): void {
    fs.mkdirSync(path.join(PROJECT_ROOT, ".work", "state"), { recursive: true });
    const pulumi = path.join(engineRoot(), "bin", "pulumi");
    const env = this.env;
    try {
      fs.accessSync(path.join(this.folder, `.stack-${this.name}`));
    } catch {
      spawnSyncChecked(
        pulumi,
        ["stack", "select", "--create", "--non-interactive", this.name],
        this.folder,
        env,
      );
      fs.writeFileSync(path.join(this.folder, `.stack-${this.name}`), "");
    }
    setSecrets(pulumi, this.folder, this.name, secrets, env);
  }

  /** Rewrites the stack's plain config, keeping its secrets and encryption salt. */
  rewrite(config: Record<string, unknown>): void {
    const file = path.join(this.folder, `Pulumi.${this.name}.yaml`);
    const kept = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter(
        (line, i, lines) =>
          line.startsWith("encryptionsalt:") || /secure:/.test(line) || /secure:/.test(lines[i + 1] ?? ""),
      );
    const rendered = renderStackFile(config);
    const secureEntries = kept.filter((l) => !l.startsWith("encryptionsalt:"));
    const salt = kept.filter((l) => l.startsWith("encryptionsalt:"));
    fs.writeFileSync(file, [...salt, rendered.trimEnd(), ...secureEntries, ""].join("\n"));
  }

  /**
   * Runs the driver as an operator would: `node dist/driver/cli.js <command> --stack <name>`, with
   * `--verbose` unless `flags` say otherwise: the tests read the steps' own log lines, which only the
   * verbose output prints (with no terminal the driver prints one start and one end line per step).
   */
  driver(
    command: string,
    extraEnv: NodeJS.ProcessEnv = {},
    flags: string[] = ["--verbose"],
  ): Promise<DriverRun> {
    const cli = path.join(PROJECT_ROOT, "dist", "driver", "cli.js");
    return this.run(
      command,
      [cli, command, "--stack", this.name, "--work-dir", this.folder, ...flags],
      extraEnv,
    );
  }

  /** A plain `pulumi up` of this stack: the engine and the program only, none of the driver's help. */
  plainUp(): Promise<DriverRun> {
    const script = path.join(PROJECT_ROOT, "dist", "test", "support", "plainUp.js");
    return this.run("plain-up", [script, this.name, this.folder]);
  }

  private async run(label: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<DriverRun> {
    this.runs += 1;
    const runDir = path.join(this.folder, "runs", `${this.runs}-${label}`);
    fs.mkdirSync(runDir, { recursive: true });
    const child = spawn(process.execPath, args, {
      env: { ...this.env, GRU_RUN_DIR: runDir, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    fs.writeFileSync(path.join(runDir, "driver.log"), `${stdout}\n--- stderr ---\n${stderr}`);
    return { code, stdout, stderr, runDir, timeline: readTimeline(path.join(runDir, "timeline.jsonl")) };
  }

  /** The timelines of every run of this stack so far, in order (a run dir a test named itself included). */
  timelines(): TimelineEvent[] {
    const runs = path.join(this.folder, "runs");
    if (!fs.existsSync(runs)) return [];
    return fs
      .readdirSync(runs)
      .sort((a, b) => (Number.parseInt(a, 10) || 0) - (Number.parseInt(b, 10) || 0))
      .flatMap((dir) => readTimeline(path.join(runs, dir, "timeline.jsonl")));
  }

  /** The resources in the stack's state (from `pulumi stack export`). */
  exportState(): Array<{ urn: string; type: string }> {
    const pulumi = path.join(engineRoot(), "bin", "pulumi");
    const out = spawnSyncChecked(pulumi, ["stack", "export", "--stack", this.name], this.folder, this.env);
    const state = JSON.parse(out) as { deployment?: { resources?: Array<{ urn: string; type: string }> } };
    return state.deployment?.resources ?? [];
  }

  /** Replaces the stack's state with an exported one (`pulumi stack import`), e.g. an older build's. */
  importState(file: string): void {
    const pulumi = path.join(engineRoot(), "bin", "pulumi");
    spawnSyncChecked(
      pulumi,
      ["stack", "import", "--stack", this.name, "--file", file],
      this.folder,
      this.env,
    );
  }

  /** Raw `pulumi stack export` text (with secrets encrypted), for leak checks. */
  exportText(): string {
    const pulumi = path.join(engineRoot(), "bin", "pulumi");
    return spawnSyncChecked(pulumi, ["stack", "export", "--stack", this.name], this.folder, this.env);
  }

  remove(): void {
    const pulumi = path.join(engineRoot(), "bin", "pulumi");
    try {
      spawnSyncChecked(
        pulumi,
        ["stack", "rm", "--force", "--yes", "--stack", this.name],
        this.folder,
        this.env,
      );
    } catch {
      // best effort: the stack may not exist
    }
    fs.rmSync(this.folder, { recursive: true, force: true });
  }
}

function spawnSyncChecked(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync(bin, args, { cwd, env, encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`${path.basename(bin)} ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** Preview's change summary as the driver prints it: `preview: {"update":30,"same":8}`. */
export function previewSummary(stdout: string): Record<string, number> {
  const line = stdout.split("\n").find((l) => l.startsWith("preview: "));
  if (!line) throw new Error(`no preview summary in driver output:\n${stdout}`);
  return JSON.parse(line.slice("preview: ".length)) as Record<string, number>;
}
