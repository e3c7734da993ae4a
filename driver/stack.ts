import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import type { UpgradeConfig } from "../plan/config";
import { upgradeProgram } from "../components/program";
import type { RunFiles } from "./environment";
import { StackLocation, StackSite, stackSite } from "./site";

export { defaultLocation, type StackLocation } from "./site";

export interface OpenedStack {
  site: StackSite;
  stack: Stack;
  workspace: LocalWorkspace;
  env: Record<string, string>;
  pulumiCommand: PulumiCommand;
  workDir: string;
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
  return openSite(stackSite(location, files, { previewOnly }), program);
}

/** The Stack handle for a site: `pulumi version`, then `stack select` (or `stack init`). */
export async function openSite(
  site: StackSite,
  program: () => Record<string, unknown> = upgradeProgram,
): Promise<OpenedStack> {
  const pulumiCommand = await PulumiCommand.get({ root: site.root, skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: site.stackName,
      projectName: "glance-rolling-upgrade",
      program: async () => program(),
    },
    { workDir: site.workDir, pulumiCommand, envVars: site.env },
  );
  return {
    site,
    stack,
    workspace: stack.workspace as LocalWorkspace,
    env: site.env,
    pulumiCommand,
    workDir: site.workDir,
  };
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
