import * as pulumi from "@pulumi/pulumi";
import { parseConfigEntries } from "./parse";
import { CONFIG_NAMESPACE, UpgradeConfig } from "./upgradeConfig";

// `isConfigSecret` is exported by the SDK's runtime but missing from its type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

export interface StackSecrets {
  dbPassword: pulumi.Output<string>;
  dbAdminPassword?: pulumi.Output<string>;
  sshPrivateKey?: pulumi.Output<string>;
}

/** Reads the stack's config and validates all of it before anything is registered. */
export function readStackConfig(): { config: UpgradeConfig; secrets: StackSecrets } {
  const entries = Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => ({
    key,
    value,
    secret: runtimeConfig.isConfigSecret(key),
  }));
  const config = parseConfigEntries(entries);
  const stackConfig = new pulumi.Config(CONFIG_NAMESPACE);
  return {
    config,
    secrets: {
      dbPassword: stackConfig.requireSecret("dbPassword"),
      dbAdminPassword: config.secrets.dbAdminPassword
        ? stackConfig.requireSecret("dbAdminPassword")
        : undefined,
      sshPrivateKey: config.secrets.sshPrivateKey ? stackConfig.requireSecret("sshPrivateKey") : undefined,
    },
  };
}
