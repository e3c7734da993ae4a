import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import {
  CONFIG_NAMESPACE,
  ConfigEntry,
  ConfigError,
  nodeCommandsSchema,
  parseConfigEntries,
  SECRET_KEYS,
  UpgradeConfig,
} from "../../plan/config";
import { buildPlan } from "../../plan/plan";
import {
  admitUpToSeconds,
  DRAIN_MARGIN_SECONDS,
  judgeTargetGroup,
  unhealthyUpToSeconds,
  TargetGroupSettings,
} from "../../steps/lb/alb/timing";
import { targetGroupSettings } from "./support/targetGroups";

/** The target groups the example files' comments describe (prod: AWS's defaults). */
function targetGroup(
  name: string,
  delay: number,
  check: { intervalSeconds: number; timeoutSeconds: number; healthyThreshold: number },
): TargetGroupSettings {
  return targetGroupSettings(`arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/${name}/0`, {
    deregistrationDelaySeconds: delay,
    healthCheck: check,
  });
}

const TARGET_GROUPS: Record<string, TargetGroupSettings> = {
  prod: targetGroup("glance-api-prod", 300, { intervalSeconds: 30, timeoutSeconds: 5, healthyThreshold: 5 }),
  staging: targetGroup("glance-api-staging", 120, {
    intervalSeconds: 10,
    timeoutSeconds: 5,
    healthyThreshold: 3,
  }),
};

/**
 * The committed example stacks for real environments. Their secrets are set by operators with
 * `pulumi config set --secret`, so the tests stand in dummy secret entries for them.
 */

interface StackFile {
  text: string;
  secretsprovider?: string;
  config: Record<string, unknown>;
}

function readStackFile(stack: string): StackFile {
  const text = fs.readFileSync(path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`), "utf8");
  const parsed = parse(text) as Omit<StackFile, "text">;
  return { ...parsed, text };
}

/** The file's entries as Pulumi gives them to the program (objects as JSON text). */
function entriesOf(file: StackFile): ConfigEntry[] {
  return Object.entries(file.config).map(([key, value]) => ({
    key,
    value: typeof value === "string" ? value : JSON.stringify(value),
    secret: false,
  }));
}

const DUMMY_SECRETS: ConfigEntry[] = SECRET_KEYS.map((name) => ({
  key: `${CONFIG_NAMESPACE}:${name}`,
  value: `dummy-${name}`,
  secret: true,
}));

describe.each(["prod", "staging"])("the example stack Pulumi.%s.yaml", (stack) => {
  const file = readStackFile(stack);

  it("encrypts its secrets with its own AWS KMS key", () => {
    expect(file.secretsprovider).toBe(`awskms://alias/glance-rolling-upgrade-${stack}?region=eu-west-1`);
    expect(file.text.indexOf("secretsprovider:")).toBeLessThan(file.text.indexOf("config:"));
  });

  it("holds no secret value, and shows each secret being set from stdin", () => {
    for (const name of SECRET_KEYS) {
      expect(Object.keys(file.config)).not.toContain(`${CONFIG_NAMESPACE}:${name}`);
      const fromStdin = new RegExp(
        `^#.*(\\| pulumi config set --secret ${name} --stack ${stack}|` +
          `pulumi config set --secret ${name} --stack ${stack} < \\S+)$`,
        "m",
      );
      expect(file.text).toMatch(fromStdin);
    }
    expect(file.text).not.toMatch(/secure:/);
  });

  it("is rejected without its secrets, naming dbPassword", () => {
    expect(() => parseConfigEntries(entriesOf(file))).toThrow(ConfigError);
    expect(() => parseConfigEntries(entriesOf(file))).toThrow(
      /glance-rolling-upgrade:dbPassword is required/,
    );
  });

  it("is a valid stack config once its secrets are set", () => {
    const config = validConfig(stack);
    expect(config.targetRelease).toBe("2024.1");
    // prod shows the default executor, which this CI proves end to end; staging shows the Command plugin's.
    expect(config.exec).toBe(stack === "prod" ? "native" : "command");
    expect(config.loadBalancer).toMatchObject({
      type: "alb",
      port: 9292,
      maxUnavailable: 1,
    });
  });

  it("has drain and admit bounds the target group its comment describes lets the preflight accept", () => {
    const config = validConfig(stack);
    const lb = config.loadBalancer;
    const group = TARGET_GROUPS[stack];
    const bounds = {
      drainTimeoutSeconds: lb.drainTimeoutSeconds,
      healthTimeoutSeconds: lb.healthTimeoutSeconds,
      bakeWindowSeconds: config.bake.windowSeconds,
    };
    const ids = config.nodes.map((n) => String(n.instanceId));
    expect(judgeTargetGroup(group, bounds, ids).problems).toEqual([]);
    // The comment beside the bounds says the same settings and the same minimums.
    const comment = file.text
      .split("\n")
      .filter((line) => /^\s+#/.test(line))
      .join(" ")
      .replace(/\s*#\s*/g, " ");
    const h = group.healthCheck;
    expect(comment).toContain(`deregistration delay ${group.deregistrationDelaySeconds} s`);
    expect(comment).toContain(
      `every ${h.intervalSeconds} s, timeout ${h.timeoutSeconds} s, healthy threshold ${h.healthyThreshold}`,
    );
    expect(comment).toMatch(new RegExp(`\\b${group.deregistrationDelaySeconds + DRAIN_MARGIN_SECONDS}\\b`));
    expect(comment).toMatch(new RegExp(`\\b${admitUpToSeconds(group)}\\b`));
    // ... and the bake's: the window the group's report of a failing target needs.
    expect(comment).toContain(
      `${h.unhealthyThreshold} x ${h.intervalSeconds} s + ${h.timeoutSeconds} s = ${unhealthyUpToSeconds(group)} s`,
    );
    expect(config.database).toMatchObject({ tls: true, user: "glance", name: "glance" });
    expect(config.database.host).toMatch(/\.eu-west-1\.rds\.amazonaws\.com$/);
    expect(config.rollbackTo).toEqual({ release: "2023.2", version: "27.1.1" });
    expect(config.nodes.every((n) => n.transport === "ssh" && n.instanceId !== undefined)).toBe(true);
    expect(config.ssh).toMatchObject({ hostKeyPolicy: "strict", port: 22 });
  });

  it("bakes each admitted node (prod 90 s, staging 60 s: each above its group's report of a failing target) with no errors allowed, watching its own CloudWatch alarms", () => {
    const config = validConfig(stack);
    expect(config.bake).toEqual({
      windowSeconds: stack === "prod" ? 90 : 60,
      errorBudget: 0,
      alarmNames: [`glance-api-5xx-${stack}`, `glance-api-target-response-time-${stack}`],
    });
    // Every node of the fleet, the NEW NODE included, gets a bake after its admission.
    const fleet = config.nodes
      .map((n) => n.name)
      .concat("provision" in config.newNode ? [config.newNodeName] : []);
    const bakes = buildPlan(config).steps.filter((step) => step.id.endsWith("/bake"));
    expect(new Set(bakes.map((step) => step.id))).toEqual(new Set(fleet.map((name) => `${name}/bake`)));
  });

  it("names targetVersion as the default versionCommand prints it: without the Debian epoch", () => {
    const config = validConfig(stack);
    expect(config.nodeCommands.versionCommand).toBe(nodeCommandsSchema.parse({}).versionCommand);
    expect(config.nodeCommands.versionCommand).toContain("sed 's/^[0-9]*://'");
    expect(config.targetVersion).toBe("28.2.0");
    expect(config.nodeCommands.upgradeCommand).toContain('"glance-api=2:${GLANCE_TARGET_VERSION}*"');
  });
});

/** Every node address of the example stacks, with a key, as the operator's known_hosts file holds them. */
function knownHostsOf(stack: string): string {
  const nodes = (readStackFile(stack).config[`${CONFIG_NAMESPACE}:nodes`] ?? []) as Array<{
    address: string;
  }>;
  return nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample${n.address}\n`).join("");
}

/** The stack's validated config, its secrets stood in by dummies, its known_hosts file by the nodes' keys. */
function validConfig(stack: string): UpgradeConfig {
  return parseConfigEntries([...entriesOf(readStackFile(stack)), ...DUMMY_SECRETS], () =>
    knownHostsOf(stack),
  );
}

describe("what differs between the example stacks", () => {
  it("prod: an existing NEW NODE among 4 nodes, minHealthy 2, an RDS snapshot as the backup", () => {
    const prod = validConfig("prod");
    expect(prod.nodes.map((n) => n.name)).toEqual(["glance-1", "glance-2", "glance-3", "glance-4"]);
    expect(prod.newNode).toEqual({ existing: "glance-1" });
    expect(prod.loadBalancer.minHealthy).toBe(2);
    expect(prod.backup).toMatchObject({ type: "rds-snapshot", dbInstanceIdentifier: "glance-prod" });
    const plan = buildPlan(prod);
    expect(plan.steps.slice(0, 3).map((s) => s.id)).toEqual(["preflight", "db/backup", "glance-1/drain"]);
    expect(plan.waves.map((w) => w.nodes)).toEqual([["glance-1"], ["glance-2"], ["glance-3"], ["glance-4"]]);
  });

  it("staging: the command executor, an existing NEW NODE among 3 nodes, minHealthy 1, a mysqldump as the backup", () => {
    const staging = validConfig("staging");
    expect(staging.exec).toBe("command");
    expect(staging.nodes.map((n) => n.name)).toEqual(["glance-stg-1", "glance-stg-2", "glance-stg-3"]);
    expect(staging.newNode).toEqual({ existing: "glance-stg-1" });
    expect(staging.loadBalancer.minHealthy).toBe(1);
    expect(staging.backup).toMatchObject({ type: "mysqldump" });
    // remote.Command gets each node's key from the known_hosts file the stack names.
    expect(staging.hostKeys["glance-stg-2"]).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample10.30.12.32");
    const plan = buildPlan(staging);
    expect(plan.steps.slice(0, 3).map((s) => s.id)).toEqual(["preflight", "db/backup", "glance-stg-1/drain"]);
  });

  it("staging is refused at plan while its known_hosts file lacks a node's key, naming the node and the fetch", () => {
    const withoutStg3 = () => knownHostsOf("staging").replace(/^10\.30\.13\.33 .*\n/m, "");
    expect(() =>
      parseConfigEntries([...entriesOf(readStackFile("staging")), ...DUMMY_SECRETS], withoutStg3),
    ).toThrow(
      /nodes\[2\] \(glance-stg-3, 10\.30\.13\.33:22\): no host key in \/etc\/glance-rolling-upgrade\/known_hosts\.staging, and ssh\.hostKeyPolicy is strict: add it with `ssh-keyscan -t ed25519 10\.30\.13\.33 >> \/etc\/glance-rolling-upgrade\/known_hosts\.staging`/,
    );
  });
});
