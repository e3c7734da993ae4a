import { expect } from "vitest";
import {
  CONFIG_NAMESPACE,
  ConfigEntry,
  ConfigError,
  parseStackConfig,
  SECRET_KEYS,
  SecretKey,
  SecretPresence,
  UpgradeConfig,
} from "../../plan/config";

/**
 * Builders for valid stack configs, shaped the way `Pulumi.<stack>.yaml` holds them (keys without the
 * `glance-rolling-upgrade:` namespace). Tests break one thing at a time with `overrides`.
 */

export type RawStack = Record<string, unknown>;
export type SecretValues = Partial<Record<SecretKey, string>>;

export interface StackFixture {
  /** The stack config as parsed YAML, namespace stripped; secret keys are not in it. */
  raw: RawStack;
  /** What `parseStackConfig` is told about the secrets. */
  secrets: Record<SecretKey, SecretPresence>;
  /** The secrets' values, for `toEntries` and for asserting they never leak. */
  secretValues: SecretValues;
}

/**
 * A nested override: plain objects merge key by key, `undefined` removes a key, anything else
 * (arrays included) replaces the value.
 */
export type Overrides = Record<string, unknown>;

export const DB_PASSWORD = "db-p4ss'; echo LEAKED $(id) `id`";
export const DB_ADMIN_PASSWORD = 'admin-"p4ss"\nsecond line';
export const SSH_PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nfixture-not-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";

export const TARGET_GROUP_ARN =
  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/glance-api/0123456789abcdef";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns a deep copy of `base` with `overrides` applied (see `Overrides`). */
export function merge(base: RawStack, overrides: Overrides = {}): RawStack {
  const result: RawStack = structuredClone(base);
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete result[name];
    else if (isPlainObject(value) && isPlainObject(result[name]))
      result[name] = merge(result[name] as RawStack, value);
    else result[name] = structuredClone(value);
  }
  return result;
}

/** Secret presence for the given values: every given one set, and set as a secret. */
export function presenceOf(values: SecretValues): Record<SecretKey, SecretPresence> {
  return Object.fromEntries(
    SECRET_KEYS.map((name) => [
      name,
      { present: values[name] !== undefined, isSecret: values[name] !== undefined },
    ]),
  ) as Record<SecretKey, SecretPresence>;
}

function fixture(raw: RawStack, secretValues: SecretValues): StackFixture {
  return { raw, secrets: presenceOf(secretValues), secretValues };
}

function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

const commonKeys: RawStack = {
  targetRelease: "2024.1",
  targetVersion: "28.2.0",
  database: { host: "db.internal", user: "glance" },
};

/** `nodeCount` SSH nodes behind HAProxy; node-1 is the NEW NODE; mysqldump backup. */
export function haproxyStack(nodeCount: number, overrides: Overrides = {}): StackFixture {
  const raw: RawStack = {
    ...commonKeys,
    nodes: nodeNames(nodeCount).map((name, i) => ({ name, address: `10.0.0.${i + 1}` })),
    newNode: { existing: "node-1" },
    ssh: { user: "ubuntu" },
    loadBalancer: { type: "haproxy", runtimeApi: "unix:/run/haproxy/admin.sock", backend: "glance_api" },
    backup: { type: "mysqldump", path: "/var/backups/glance-{release}.sql" },
  };
  return fixture(merge(raw, overrides), { dbPassword: DB_PASSWORD });
}

/** `nodeCount` EC2 nodes (instance targets) behind an ALB; node-1 is the NEW NODE; RDS snapshot backup. */
export function albStack(nodeCount: number, overrides: Overrides = {}): StackFixture {
  const raw: RawStack = {
    ...commonKeys,
    nodes: nodeNames(nodeCount).map((name, i) => ({
      name,
      address: `10.0.1.${i + 1}`,
      instanceId: `i-0${(i + 1).toString(16).padStart(16, "0")}`,
    })),
    newNode: { existing: "node-1" },
    ssh: { user: "ubuntu", hostKeyPolicy: "accept-new" },
    loadBalancer: { type: "alb", targetGroupArn: TARGET_GROUP_ARN, region: "eu-west-1" },
    database: {
      host: "glance-db.abcdefghijkl.eu-west-1.rds.amazonaws.com",
      user: "glance",
      adminUser: "admin",
      // An RDS database over the network: TLS, as the prod and staging stacks have it.
      tls: true,
    },
    backup: { type: "rds-snapshot", dbInstanceIdentifier: "glance-db", region: "eu-west-1" },
  };
  return fixture(merge(raw, overrides), {
    dbPassword: DB_PASSWORD,
    dbAdminPassword: DB_ADMIN_PASSWORD,
    sshPrivateKey: SSH_PRIVATE_KEY,
  });
}

/** `albStack(nodeCount)` whose NEW NODE (`glance-new`) the stack provisions from an AMI. */
export function albProvisionedStack(nodeCount: number, overrides: Overrides = {}): StackFixture {
  const base = albStack(nodeCount);
  // Replaced, not merged: `existing` and `provision` are alternatives.
  base.raw.newNode = {
    provision: {
      name: "glance-new",
      ami: "ami-0123456789abcdef0",
      subnetId: "subnet-0123456789abcdef0",
      securityGroupIds: ["sg-0123456789abcdef0"],
      keyName: "ops-key",
      tags: { team: "images" },
    },
  };
  return fixture(merge(base.raw, overrides), base.secretValues);
}

/** Parses a fixture, for tests that need the typed config. */
export function parsed(stack: StackFixture): UpgradeConfig {
  return parseStackConfig(stack.raw, stack.secrets);
}

/** The ConfigError parsing a broken fixture throws; fails the test if the config parses. */
export function configErrorOf(stack: StackFixture): ConfigError {
  try {
    parseStackConfig(stack.raw, stack.secrets);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but the config parsed");
}

/**
 * The fixture as the config entries Pulumi stores: full keys, objects as JSON text, strings raw,
 * secrets (given as values) marked secret unless listed in `plaintext`.
 */
export function toEntries(raw: RawStack, secrets: SecretValues, plaintext: SecretKey[] = []): ConfigEntry[] {
  const plain = Object.entries(raw).map(([name, value]) => ({
    key: `${CONFIG_NAMESPACE}:${name}`,
    value: typeof value === "string" ? value : JSON.stringify(value),
    secret: false,
  }));
  const secret = Object.entries(secrets)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => ({
      key: `${CONFIG_NAMESPACE}:${name}`,
      value,
      secret: !plaintext.includes(name as SecretKey),
    }));
  return [...plain, ...secret];
}
