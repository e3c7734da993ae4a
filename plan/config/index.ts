export * from "./databaseSchema";
export * from "./fleetSchema";
export * from "./schema";
export {
  CONFIG_NAMESPACE,
  ConfigError,
  SECRET_KEYS,
  type ResolvedNode,
  type SecretKey,
  type SecretPresence,
  type UpgradeConfig,
} from "./upgradeConfig";
export { readKnownHostsFile, type KnownHostsReader } from "./commandHostKeys";
export { parseConfigEntries, parseStackConfig, type ConfigEntry } from "./parse";
