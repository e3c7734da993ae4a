import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { ConfigEntry, UpgradeConfig } from "../components/config";
import { upgradeProgram } from "../components/program";
import { engineEnvironment, engineRoot, PROJECT_ROOT, RunFiles } from "./environment";

export interface OpenedStack {
  stack: Stack;
  workspace: LocalWorkspace;
  env: Record<string, string>;
}

export interface StackLocation {
  stackName: string;
  /** A folder holding Pulumi.yaml and Pulumi.<stack>.yaml; it must sit where node_modules resolves. */
  workDir: string;
}

export function defaultLocation(stackName: string, workDir?: string): StackLocation {
  return { stackName, workDir: path.resolve(workDir ?? PROJECT_ROOT) };
}

/** Opens (creating if needed) the stack with the program inline and the offline engine settings. */
export async function openStack(
  location: StackLocation,
  files: RunFiles,
  program: () => Record<string, unknown> = upgradeProgram,
): Promise<OpenedStack> {
  const root = engineRoot();
  const env = engineEnvironment(root, location.stackName, files);
  const pulumiCommand = await PulumiCommand.get({ root, skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: location.stackName,
      projectName: "glance-rolling-upgrade",
      program: async () => program(),
    },
    { workDir: location.workDir, pulumiCommand, envVars: env },
  );
  return { stack, workspace: stack.workspace as LocalWorkspace, env };
}

/** The stack's config as entries (secrets decrypted in memory only, to check their presence). */
export async function configEntries(stack: Stack): Promise<ConfigEntry[]> {
  const map = await stack.getAllConfig();
  return Object.entries(map).map(([key, item]) => ({ key, value: item.value, secret: item.secret ?? false }));
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
