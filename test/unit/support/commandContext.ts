import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Deployment, Stack } from "@pulumi/pulumi/automation";
import { parseConfigEntries, UpgradeConfig } from "../../../plan/config";
import type { CommandContext } from "../../../driver/commands/context";
import { RunProgress } from "../../../driver/progress";
import type { OpenedStack } from "../../../driver/stack";
import { stackConfig } from "./mockProgram";

/** `stackConfig(3, overrides)` parsed as the driver parses `pulumi config --json` (secrets masked). */
export function parsedConfig(overrides: Record<string, unknown> = {}): UpgradeConfig {
  const entries = Object.entries(stackConfig(3, overrides)).map(([key, value]) => ({
    key: `glance-rolling-upgrade:${key}`,
    value: typeof value === "string" ? value : JSON.stringify(value),
    secret: false,
  }));
  for (const secret of ["dbPassword", "dbAdminPassword", "sshPrivateKey"])
    entries.push({ key: `glance-rolling-upgrade:${secret}`, value: "[secret]", secret: true });
  return parseConfigEntries(entries);
}

/** A driver command's context around a fake stack, with the given config and initial state. */
export function commandContextFor(stack: Stack, config: UpgradeConfig, state: Deployment): CommandContext {
  const dir = mkdtempSync(path.join(tmpdir(), "gru-command-"));
  return {
    options: { stack: "prod" } as CommandContext["options"],
    files: { dir, progress: path.join(dir, "progress.log"), timeline: path.join(dir, "timeline.jsonl") },
    opened: { stack, workspace: {}, site: {} } as unknown as OpenedStack,
    stack,
    log: { log: () => undefined },
    config: async () => config,
    initialState: async () => state,
    adminPassword: async () => "admin-pw",
    progress: new RunProgress(),
  };
}

/** A state export holding `steps` as finished for `release`, and the pending operations given. */
export function stateOf(
  steps: ReadonlyArray<{ name: string; result?: Record<string, unknown> }>,
  release: string,
  pending: string[] = [],
): Deployment {
  const urn = (name: string) =>
    `urn:pulumi:prod::glance-rolling-upgrade::glance:upgrade:RollingUpgrade$pulumi-nodejs:dynamic:Resource::${name}`;
  return {
    version: 3,
    deployment: {
      resources: steps.map(({ name, result = {} }) => ({
        urn: urn(name),
        outputs: { step: name, release, startedAt: "2026-01-01T10:00", result },
      })),
      pending_operations: pending.map((name) => ({ resource: { urn: urn(name) }, type: "creating" })),
    },
  } as Deployment;
}
