import { StackSecrets } from "../plan/config/read";
import { UpgradeConfig } from "../plan/config";
import { Executor } from "./exec";

/** What every component of one upgrade shares: the validated config, its secrets and the executor. */
export interface UpgradeContext {
  config: UpgradeConfig;
  secrets: StackSecrets;
  executor: Executor;
}
