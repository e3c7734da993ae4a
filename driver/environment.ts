import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";

/** The project root: the nearest folder up with Pulumi.yaml and package.json (from dist/ or sources). */
export const PROJECT_ROOT = findProjectRoot(__dirname);

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "Pulumi.yaml")) && existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml and package.json above ${start}`);
  }
}

/** A lab-only passphrase for the `local` stack's secrets; never use it for a real environment. */
export const LAB_PASSPHRASE = "glance-lab-only-passphrase";

/** Stacks whose secrets provider is the lab passphrase. */
const LAB_STACKS = new Set(["local"]);

/**
 * Finds (or builds, the first time) the Pulumi engine with scripts/setup-engine.sh and returns the
 * engine root (ROOT/bin/pulumi). GRU_PULUMI_ROOT skips the script.
 */
export function engineRoot(): string {
  if (process.env.GRU_PULUMI_ROOT) return process.env.GRU_PULUMI_ROOT;
  const output = execFileSync("bash", [path.join(PROJECT_ROOT, "scripts", "setup-engine.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const root = output.trim().split("\n").at(-1);
  if (!root) throw new Error("scripts/setup-engine.sh did not print the engine root");
  return root;
}

/**
 * Offline settings in one place: a local file backend under .work/ unless PULUMI_BACKEND_URL is set,
 * no update checks, no plugin downloads, the launcher for dynamic providers on PATH.
 */
export function engineEnvironment(
  root: string,
  stackName: string,
  runFiles: RunFiles,
  opts: { previewOnly?: boolean } = {},
): Record<string, string> {
  const stateDir = path.join(PROJECT_ROOT, ".work", "state");
  mkdirSync(stateDir, { recursive: true });
  const env: Record<string, string> = {
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${stateDir}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PATH: `${path.join(root, "bin")}:${process.env.PATH ?? ""}`,
    GRU_PROGRESS_FILE: runFiles.progress,
    GRU_TIMELINE_FILE: runFiles.timeline,
  };
  // A preview changes no state, yet the engine serializes and verifies the whole snapshot after
  // every resource step: quadratic in the fleet (200 nodes: 72 s, 13 s without). Never for an
  // update: its per-step checkpoints are what lets a killed run resume without repeating a step,
  // so "false" is explicit and overrides one inherited from the operator's shell.
  env.PULUMI_SKIP_CHECKPOINTS = opts.previewOnly ? "true" : "false";
  if (
    !process.env.PULUMI_CONFIG_PASSPHRASE &&
    !process.env.PULUMI_CONFIG_PASSPHRASE_FILE &&
    LAB_STACKS.has(stackName)
  ) {
    env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
  }
  return env;
}

export interface RunFiles {
  dir: string;
  progress: string;
  timeline: string;
}

/** Where one run records its progress and timeline (GRU_RUN_DIR overrides, for tests). */
export function runFiles(stackName: string, command: string): RunFiles {
  const dir =
    process.env.GRU_RUN_DIR ??
    path.join(
      PROJECT_ROOT,
      ".work",
      "runs",
      stackName,
      `${new Date().toISOString().replaceAll(":", "-")}-${command}`,
    );
  mkdirSync(dir, { recursive: true });
  return { dir, progress: path.join(dir, "progress.jsonl"), timeline: path.join(dir, "timeline.jsonl") };
}
