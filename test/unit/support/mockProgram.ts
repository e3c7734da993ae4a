import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "../../../plan/config/read";
import { RollingUpgrade } from "../../../components/rollingUpgrade";
import { RollingRollback } from "../../../components/rollback";

/** A resource as the program registered it, with the dependsOn actually passed to Pulumi. */
export interface Registration {
  name: string;
  type: string;
  parent?: string;
  dependsOn: string[];
  props: pulumi.Inputs;
  /** Inputs as the mock engine received them (secrets unwrapped). */
  inputs?: Record<string, unknown>;
  opts: pulumi.ResourceOptions;
}

const NAMESPACE = "glance-rolling-upgrade";
export const SECRET_VALUES = {
  dbPassword: "db-pw-'quoted';$(rm -rf /)",
  dbAdminPassword: "admin-pw-`id`",
  sshPrivateKey:
    "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-material\n-----END OPENSSH PRIVATE KEY-----",
};

/** When the mock preflight "started". */
export const PREFLIGHT_STARTED_AT = "2026-11-26T09:59:00.000Z";
/** Step results the mock engine returns, by step name (a step's `result` output, otherwise none). */
export const mockStepResults = new Map<string, Record<string, unknown>>();

/** Everything the mock engine saw, keyed by resource name. */
export const seenByEngine = new Map<string, { type: string; inputs: Record<string, unknown> }>();

let mocksSet = false;
async function ensureMocks(): Promise<void> {
  if (mocksSet) return;
  mocksSet = true;
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        seenByEngine.set(args.name, { type: args.type, inputs: args.inputs as Record<string, unknown> });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command" || args.type === "command:local:Command") {
          state.stdout = "28.2.0";
          // What the outcome preamble prints on the node (components/exec/command.ts).
          state.stderr =
            "gru-step-started 2026-11-26T10:00:00.000Z\nsome progress\ngru-step-ended 2026-11-26T10:00:02.500Z\n";
        }
        if (args.type === "aws:ec2/instance:Instance") state.privateIp = "10.0.9.9";
        // The one step output the program reads back: the preflight's start (db/backup's reference).
        if (args.inputs.step === "preflight") state.startedAt = PREFLIGHT_STARTED_AT;
        const result = mockStepResults.get(args.name);
        if (result) state.result = result;
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    "glance-rolling-upgrade",
    "unit",
    false,
  );
}

/**
 * Runs the real program (config reading, validation, RollingUpgrade) under Pulumi's mocks with the
 * given stack config, and records every registration through a transformation on the top component.
 */
export async function runMockProgram(
  config: Record<string, unknown>,
  secrets: MockSecrets = { dbPassword: "secret" },
): Promise<{ registrations: Registration[]; upgrade: RollingUpgrade }> {
  const { registrations, built } = await mockRun(
    config,
    secrets,
    (stack, opts) => new RollingUpgrade("glance-upgrade", stack, opts),
  );
  return { registrations, upgrade: built };
}

/** The driver's rollback program (RollingRollback of `nodes`) under the same mocks. */
export async function runMockRollback(
  config: Record<string, unknown>,
  secrets: MockSecrets,
  nodes: string[],
): Promise<{ registrations: Registration[] }> {
  const { registrations } = await mockRun(
    config,
    secrets,
    (stack, opts) => new RollingRollback("glance-rollback", { ...stack, nodes }, opts),
  );
  return { registrations };
}

type MockSecrets = Partial<Record<keyof typeof SECRET_VALUES, "secret" | "plaintext">>;

async function mockRun<T extends pulumi.ComponentResource>(
  config: Record<string, unknown>,
  secrets: MockSecrets,
  build: (stack: ReturnType<typeof readStackConfig>, opts: pulumi.ComponentResourceOptions) => T,
): Promise<{ registrations: Registration[]; built: T }> {
  await ensureMocks();
  seenByEngine.clear();
  const all: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    all[`${NAMESPACE}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const secretKeys: string[] = [];
  for (const [key, how] of Object.entries(secrets)) {
    all[`${NAMESPACE}:${key}`] = SECRET_VALUES[key as keyof typeof SECRET_VALUES];
    if (how === "secret") secretKeys.push(`${NAMESPACE}:${key}`);
  }
  pulumi.runtime.setAllConfig(all, secretKeys);

  const registrations: Registration[] = [];
  const names = new Map<pulumi.Resource, string>();
  const pendingDeps: Array<{ registration: Registration; deps: pulumi.Resource[] }> = [];
  const capture: pulumi.ResourceTransformation = (args) => {
    names.set(args.resource, args.name);
    const registration: Registration = {
      name: args.name,
      type: args.type,
      parent: args.opts.parent ? names.get(args.opts.parent) : undefined,
      dependsOn: [],
      props: args.props,
      opts: args.opts,
    };
    const deps = args.opts.dependsOn;
    pendingDeps.push({
      registration,
      deps:
        deps === undefined
          ? []
          : Array.isArray(deps)
            ? (deps as pulumi.Resource[])
            : [deps as pulumi.Resource],
    });
    registrations.push(registration);
    return undefined;
  };
  const built = build(readStackConfig(), { transformations: [capture] });
  for (const { registration, deps } of pendingDeps) {
    registration.dependsOn = deps.map((d) => {
      const name = names.get(d);
      if (!name) throw new Error(`${registration.name} depends on a resource the transformation never saw`);
      return name;
    });
  }
  // Let the mock engine receive every registration.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await Promise.all(
    [...names.keys()].map((r) => new Promise((resolve) => (r.urn as pulumi.Output<string>).apply(resolve))),
  );
  for (const registration of registrations) registration.inputs = seenByEngine.get(registration.name)?.inputs;
  return { registrations, built };
}

/** The transitive dependencies of every resource, derived only from the captured dependsOn. */
export function ancestors(registrations: Registration[]): Map<string, Set<string>> {
  const direct = new Map(registrations.map((r) => [r.name, r.dependsOn]));
  const memo = new Map<string, Set<string>>();
  const visit = (name: string, path: string[]): Set<string> => {
    const known = memo.get(name);
    if (known) return known;
    if (path.includes(name)) throw new Error(`dependency cycle: ${[...path, name].join(" -> ")}`);
    const result = new Set<string>();
    for (const dep of direct.get(name) ?? []) {
      result.add(dep);
      for (const transitive of visit(dep, [...path, name])) result.add(transitive);
    }
    memo.set(name, result);
    return result;
  };
  for (const r of registrations) visit(r.name, []);
  return memo;
}

/** A fixture host key per test node address (10.0.1.10 ...), as `ssh-keyscan` would have added it. */
export function fixtureHostKey(address: string): string {
  return `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(address.padEnd(24, ".")).toString("base64")}`;
}

/** The known_hosts file the fixture stacks name: a key for every address stackConfig gives a node. */
export const FIXTURE_KNOWN_HOSTS = path.join(tmpdir(), `gru-unit-known-hosts-${process.pid}`);
writeFileSync(
  FIXTURE_KNOWN_HOSTS,
  Array.from({ length: 200 }, (_, i) => {
    const address = `10.0.1.${i + 10}`;
    // Port 22 as `host`, another port as `[host]:port`, as ssh-keyscan -p writes them.
    return `${address} ${fixtureHostKey(address)}\n[${address}]:2222 ${fixtureHostKey(`${address}:2222`)}\n`;
  }).join(""),
);

/** A stack config for `count` nodes behind HAProxy (or an ALB), as an operator would write it. */
export function stackConfig(
  count: number,
  overrides: Record<string, unknown> = {},
  lb: "haproxy" | "alb" = "haproxy",
): Record<string, unknown> {
  const nodes = Array.from({ length: count }, (_, i) => ({
    name: `node-${i + 1}`,
    address: `10.0.1.${i + 10}`,
    transport: "ssh",
    ...(lb === "alb" ? { instanceId: `i-0000000000000${String(i + 100).padStart(4, "0")}` } : {}),
  }));
  return {
    targetRelease: "2024.1",
    targetVersion: "28.2.0",
    exec: "native",
    nodes,
    newNode: { existing: "node-1" },
    ssh: { user: "ubuntu", hostKeyPolicy: "strict", knownHostsFile: FIXTURE_KNOWN_HOSTS },
    loadBalancer:
      lb === "haproxy"
        ? { type: "haproxy", runtimeApi: "unix:/run/haproxy/admin.sock", backend: "glance_api" }
        : {
            type: "alb",
            targetGroupArn:
              "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/glance/0123456789abcdef",
          },
    database: { host: "db.internal", user: "glance", adminUser: "admin" },
    backup: { type: "mysqldump", path: "/var/backups/glance/glance-{release}.sql" },
    ...overrides,
  };
}

/** `stackConfig(count, …, "alb")` plus a NEW NODE (`node-new`) the stack provisions from an AMI. */
export function provisionedStackConfig(count: number): Record<string, unknown> {
  return stackConfig(
    count,
    {
      newNode: {
        provision: {
          name: "node-new",
          ami: "ami-0123456789abcdef0",
          subnetId: "subnet-0123456789abcdef0",
          securityGroupIds: ["sg-0123456789abcdef0"],
          keyName: "glance-ops",
        },
      },
      // The instance the stack launches has no known key yet: it is learned on first connection.
      ssh: { user: "ubuntu", hostKeyPolicy: "accept-new", knownHostsFile: FIXTURE_KNOWN_HOSTS },
    },
    "alb",
  );
}
