import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { ConfigEntry, UpgradeConfig } from "../plan/config";
import { upgradeProgram } from "../components/program";
import { engineEnvironment, engineRoot, PROJECT_ROOT, RunFiles } from "./environment";

const execFileAsync = promisify(execFile);

export interface OpenedStack {
  stack: Stack;
  workspace: LocalWorkspace;
  env: Record<string, string>;
  pulumiCommand: PulumiCommand;
  workDir: string;
}

export interface StackLocation {
  stackName: string;
  /** A folder holding Pulumi.yaml and Pulumi.<stack>.yaml; it must sit where node_modules resolves. */
  workDir: string;
}

export function defaultLocation(stackName: string, workDir?: string): StackLocation {
  return { stackName, workDir: path.resolve(workDir ?? PROJECT_ROOT) };
}

export interface OpenOptions {
  /** The program to run inline; the rolling upgrade unless given. */
  program?: () => Record<string, unknown>;
  /** Only `preview` will run on this stack handle (no state is written). */
  previewOnly?: boolean;
}

/** Opens (creating if needed) the stack with the program inline and the offline engine settings. */
export async function openStack(
  location: StackLocation,
  files: RunFiles,
  { program = upgradeProgram, previewOnly = false }: OpenOptions = {},
): Promise<OpenedStack> {
  const root = engineRoot();
  const env = engineEnvironment(root, location.stackName, files, { previewOnly });
  const pulumiCommand = await PulumiCommand.get({ root, skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: location.stackName,
      projectName: "glance-rolling-upgrade",
      program: async () => program(),
    },
    { workDir: location.workDir, pulumiCommand, envVars: env },
  );
  return {
    stack,
    workspace: stack.workspace as LocalWorkspace,
    env,
    pulumiCommand,
    workDir: location.workDir,
  };
}

/**
 * The stack's config as entries, secrets masked (`pulumi config --json` without `--show-secrets`):
 * their presence and secret flag is all validation needs. The Automation API's getAllConfig always
 * decrypts, which costs the secrets provider's key derivation on every run.
 */
export async function configEntries(opened: OpenedStack): Promise<ConfigEntry[]> {
  const result = await execFileAsync(
    opened.pulumiCommand.command,
    ["config", "--json", "--stack", opened.stack.name],
    {
      cwd: opened.workDir,
      env: { ...process.env, ...opened.env },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const map = JSON.parse(result.stdout) as Record<string, { value?: string; secret?: boolean }>;
  return Object.entries(map).map(([key, item]) => ({
    key,
    value: item.value ?? "",
    secret: item.secret ?? false,
  }));
}

/** One config value decrypted, or undefined when it is not set. */
export async function secretValue(opened: OpenedStack, key: string): Promise<string | undefined> {
  const all = await opened.stack.workspace.getAllConfig(opened.stack.name);
  return all[key]?.value;
}

/** Plugins a stack needs beyond the dynamic-provider launcher, with what to do when one is missing. */
export async function missingPlugins(workspace: LocalWorkspace, config: UpgradeConfig): Promise<string[]> {
  const needed: Array<{ name: string; why: string }> = [];
  if (config.exec === "command")
    needed.push({ name: "command", why: "exec: command runs node steps with @pulumi/command" });
  if ("provision" in config.newNode)
    needed.push({ name: "aws", why: "newNode.provision creates an aws.ec2.Instance" });
  if (needed.length === 0) return [];
  const installed = new Set(
    (await workspace.listPlugins()).filter((p) => p.kind === "resource").map((p) => p.name),
  );
  return needed
    .filter((plugin) => !installed.has(plugin.name))
    .map(
      (plugin) =>
        `the Pulumi '${plugin.name}' resource plugin is not installed (${plugin.why}); install it with ` +
        `\`pulumi plugin install resource ${plugin.name}\` where the plugin registry is reachable` +
        (plugin.name === "command" ? ", or set `exec: native` to use the project's own executor" : ""),
    );
}
