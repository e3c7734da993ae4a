/**
 * A stack's site: the engine, its environment and the project folder, and the read-only CLI calls
 * that need nothing more. Light on purpose (no @pulumi/pulumi at run time): the driver starts these
 * reads first, so they run while Node.js is still loading the SDK and the program.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Deployment } from "@pulumi/pulumi/automation";
import type { ConfigEntry } from "../plan/config";
import { engineEnvironment, engineRoot, PROJECT_ROOT, RunFiles } from "./environment";

const execFileAsync = promisify(execFile);

/** Where a stack's CLI calls run; all known before any CLI call. */
export interface StackSite {
  stackName: string;
  workDir: string;
  env: Record<string, string>;
  /** The Pulumi CLI binary (ROOT/bin/pulumi). */
  command: string;
  /** The engine root, as `PulumiCommand.get({ root })` takes it. */
  root: string;
}

export interface StackLocation {
  stackName: string;
  /** A folder holding Pulumi.yaml and Pulumi.<stack>.yaml; it must sit where node_modules resolves. */
  workDir: string;
}

export function defaultLocation(stackName: string, workDir?: string): StackLocation {
  return { stackName, workDir: path.resolve(workDir ?? PROJECT_ROOT) };
}

/** The engine and its offline settings for a stack; runs no Pulumi CLI process. */
export function stackSite(
  location: StackLocation,
  files: RunFiles,
  { previewOnly = false }: { previewOnly?: boolean } = {},
): StackSite {
  const root = engineRoot();
  return {
    stackName: location.stackName,
    workDir: location.workDir,
    env: engineEnvironment(root, location.stackName, files, { previewOnly }),
    command: path.join(root, "bin", "pulumi"),
    root,
  };
}

/** Runs the Pulumi CLI on a site's stack and returns its stdout. */
async function cli(site: StackSite, args: string[]): Promise<string> {
  const result = await execFileAsync(
    site.command,
    [...args, "--stack", site.stackName, "--non-interactive"],
    {
      cwd: site.workDir,
      env: { ...process.env, ...site.env },
      maxBuffer: 1024 * 1024 * 1024,
    },
  );
  return result.stdout;
}

/**
 * The stack's config as entries, secrets masked (`pulumi config --json` without `--show-secrets`):
 * their presence and secret flag is all validation needs. The Automation API's getAllConfig always
 * decrypts, which costs the secrets provider's key derivation on every run.
 */
export async function configEntries(site: StackSite): Promise<ConfigEntry[]> {
  const map = JSON.parse(await cli(site, ["config", "--json"])) as Record<
    string,
    { value?: string; secret?: boolean }
  >;
  return Object.entries(map).map(([key, item]) => ({
    key,
    value: item.value ?? "",
    secret: item.secret ?? false,
  }));
}

/**
 * The stack's state with its secrets left encrypted (`pulumi stack export` without the
 * `--show-secrets` of Stack.exportStack): the driver reads step records, never a secret, and
 * decrypting costs the secrets provider's key derivation.
 */
export async function exportedState(site: StackSite): Promise<Deployment> {
  return JSON.parse(await cli(site, ["stack", "export"])) as Deployment;
}

/** Reads a command needs whatever happens, started with the site, before the Stack handle exists. */
export interface EarlyReads {
  config?: () => Promise<ConfigEntry[]>;
  state?: () => Promise<Deployment>;
}

/**
 * Starts the wanted reads of the config and the state at once: they need only the CLI binary and
 * the stack's name, so they run while the SDK loads and `pulumi version` and `stack select` open
 * the Stack handle.
 */
export function startEarlyReads(site: StackSite, wanted: { config: boolean; state: boolean }): EarlyReads {
  return {
    config: wanted.config ? earlyRead(() => configEntries(site)) : undefined,
    state: wanted.state ? earlyRead(() => exportedState(site)) : undefined,
  };
}

/**
 * A read started now and used later. If it fails (a new stack does not exist until `stack select`
 * has created it) it runs once more when first used, and that run's error is the one reported.
 */
export function earlyRead<T>(read: () => Promise<T>): () => Promise<T> {
  const early = read().then(
    (value) => ({ value }),
    () => undefined,
  );
  let used: Promise<T> | undefined;
  return () => (used ??= early.then((got) => (got ? got.value : read())));
}
