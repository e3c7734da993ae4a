import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";

export const CONFIG_NAMESPACE = "glance-rolling-upgrade";

/** Renders a stack file's `config:` section from plain (non-secret) config values. */
export function renderStackFile(config: Record<string, unknown>, header = ""): string {
  const namespaced = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [`${CONFIG_NAMESPACE}:${key}`, value]),
  );
  return header + stringify({ config: namespaced }, { lineWidth: 0 });
}

/**
 * Makes a stack folder (Pulumi.yaml + Pulumi.<stack>.yaml) inside the project, where node_modules
 * resolves for the dynamic providers; tests use one per stack, never the committed stack files.
 */
export function writeStackFolder(
  projectRoot: string,
  folder: string,
  stackName: string,
  config: Record<string, unknown>,
): string {
  mkdirSync(folder, { recursive: true });
  copyFileSync(path.join(projectRoot, "Pulumi.yaml"), path.join(folder, "Pulumi.yaml"));
  writeFileSync(path.join(folder, `Pulumi.${stackName}.yaml`), renderStackFile(config));
  return folder;
}

/** Sets secrets with the CLI, each value on stdin (never argv). */
export function setSecrets(
  pulumiBin: string,
  folder: string,
  stackName: string,
  secrets: Record<string, string>,
  env: NodeJS.ProcessEnv,
): void {
  for (const [key, value] of Object.entries(secrets)) {
    execFileSync(pulumiBin, ["config", "set", "--secret", "--stack", stackName, key], {
      cwd: folder,
      input: value,
      env,
      stdio: ["pipe", "ignore", "pipe"],
    });
  }
}
