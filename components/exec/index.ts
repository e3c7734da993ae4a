import * as pulumi from "@pulumi/pulumi";
import { UpgradeConfig } from "../../plan/config";
import { CommandExecutor } from "./command";
import { Executor } from "./executor";
import { NativeExecutor } from "./native";

export * from "./executor";
export * from "../../steps/node/scripts";
export { scriptSpec } from "./native";

export function createExecutor(
  config: UpgradeConfig,
  sshPrivateKey: pulumi.Output<string> | undefined,
): Executor {
  return config.exec === "native"
    ? new NativeExecutor(config, sshPrivateKey)
    : new CommandExecutor(config, sshPrivateKey);
}
