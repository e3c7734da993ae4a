/**
 * The `command` executor can't run here (the Command plugin can't be installed), so these tests are
 * mock-level: they prove on the registered resources that @pulumi/command gets the very scripts the
 * native executor runs, that it honours the same settings (host key, bash whatever the login shell,
 * the step timeout, the same outcome in the summary; or refuses at plan what it cannot honour), and
 * that secrets travel only as Pulumi secrets, never in a command line. The parity test feeds every
 * ssh, nodeCommands and database key through both executors.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { markers, OUTCOME_PREAMBLE, UNCHANGED_COMMAND } from "../../components/exec/command";
import { buildNodeScript, healthGateScript, NodeScriptKind, secretExports } from "../../steps/node/scripts";
import { ConfigEntry, ConfigError, parseConfigEntries } from "../../plan/config";
import { remoteBashCommand, scriptForStdin } from "../../steps/exec/local";
import type { StoredOutcome } from "../../steps/progress";
import {
  fixtureHostKey,
  provisionedStackConfig,
  Registration,
  runMockProgram,
  SECRET_VALUES,
  stackConfig,
} from "./support/mockProgram";

const secrets = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const KINDS: Record<string, NodeScriptKind> = {
  stop: "stop",
  upgrade: "upgrade",
  start: "start",
  version: "version",
  "upgrade-check": "upgrade-check",
  "config-check": "config-check",
  expand: "expand",
  migrate: "migrate",
  verify: "verify",
  contract: "contract",
};

function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return stackConfig(3, { exec: "command", ...overrides });
}

/** The stack's config entries as Pulumi gives them to the program, with every secret set. */
function entriesOf(raw: Record<string, unknown>): ConfigEntry[] {
  return [
    ...Object.entries(raw).map(([key, value]) => ({
      key: `glance-rolling-upgrade:${key}`,
      value: typeof value === "string" ? value : JSON.stringify(value),
      secret: false,
    })),
    ...Object.entries(SECRET_VALUES).map(([key, value]) => ({
      key: `glance-rolling-upgrade:${key}`,
      value,
      secret: true,
    })),
  ];
}

function parsed(raw: Record<string, unknown>) {
  return parseConfigEntries(entriesOf(raw));
}

/** A database block whose connection reaches glance-manage on stdin, with the password in it. */
const CONNECTION_ON_STDIN = {
  host: "db.internal",
  user: "glance",
  adminUser: "admin",
  passConnectionToGlanceManage: true,
};

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The mock engine sees secret values wrapped in Pulumi's secret envelope; unwrap them for comparison. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] !== undefined && "value" in record) return plain(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Whether the mock engine received this input as a secret. */
function receivedAsSecret(value: unknown): boolean {
  return !!value && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG] !== undefined;
}

/** What bash runs: the script a remote.Command sends on stdin (after its secrets), or a local one's command. */
function scriptOf(registration: Registration): string {
  if (registration.type === "command:remote:Command") return String(plain(registration.inputs?.stdin) ?? "");
  return String(registration.inputs?.create ?? "");
}

async function outputIsSecret(value: unknown): Promise<boolean> {
  return pulumi.Output.isInstance(value) ? pulumi.isSecret(value as pulumi.Output<unknown>) : false;
}

describe("the command executor (mock-level: the Command plugin cannot run here)", () => {
  it("gives remote.Command exactly the scripts the native executor runs, on stdin to bash, bounded by the step timeout", async () => {
    const raw = config();
    const { registrations } = await runMockProgram(raw, secrets);
    const commands = registrations.filter((r) => r.type === "command:remote:Command");
    // stop/upgrade/start/version per node, the NEW NODE's upgrade and config checks, expand/migrate/verify/contract
    expect(commands.length).toBe(3 * 4 + 2 + 4);
    const cfg = parsed(raw);
    const gateSeconds = cfg.loadBalancer.healthTimeoutSeconds;
    for (const command of commands) {
      const [owner, step] = command.name.split("/");
      const node = owner === "db" ? "node-1" : owner;
      const script = buildNodeScript(KINDS[step], cfg, { name: node });
      // A start step carries its health gate (the native executor checks the same URL after its script).
      const healthUrl = cfg.nodes.find((n) => n.name === node)?.healthUrl ?? "";
      const gate = step === "start" ? healthGateScript(healthUrl, gateSeconds) : "";
      expect(scriptOf(command), command.name).toBe(scriptForStdin(`${OUTCOME_PREAMBLE}${script}${gate}`));
      // The login shell (whatever it is) only starts bash; the native executor asks sshd for the same.
      const bound = step === "start" ? 1800 + gateSeconds : 1800;
      expect(command.inputs?.create).toBe(remoteBashCommand(bound));
      expect(command.inputs?.create).toBe(`timeout -k 5 ${bound} bash -s`);
      // An update (an edit that is not the step's identity) runs the script again only for a step
      // that just reads; any other step's update changes nothing (the unit rule, plan/identity.ts).
      const readOnly = ["version", "upgrade-check", "config-check", "verify"].includes(step);
      expect(command.inputs?.update).toBe(readOnly ? command.inputs?.create : UNCHANGED_COMMAND);
      // The triggers name the kind as states written before the kinds were named after their ids hold
      // it (db/verify was `verify-migrations`): a changed trigger would replace, so re-run, the step.
      const triggerKind = command.name === "db/verify" ? "verify-migrations" : KINDS[step];
      expect(command.inputs?.triggers).toEqual(["2024.1", node, triggerKind]);
      expect(command.opts.customTimeouts).toEqual({ create: `${bound + 60}s`, update: `${bound + 60}s` });
    }
  });

  it("checks each node's host key from the known_hosts file (remote.Command ignores it unless given)", async () => {
    const { registrations } = await runMockProgram(config(), secrets);
    const commands = registrations.filter((r) => r.type === "command:remote:Command");
    for (const command of commands) {
      const connection = plain(command.inputs?.connection) as { host: string; hostKey?: string };
      expect(connection.hostKey, command.name).toBe(fixtureHostKey(connection.host));
    }
    const insecure = await runMockProgram(
      config({ ssh: { user: "ubuntu", hostKeyPolicy: "insecure" } }),
      secrets,
    );
    const unchecked = insecure.registrations.filter((r) => r.type === "command:remote:Command");
    expect(unchecked.length).toBeGreaterThan(0);
    for (const command of unchecked)
      expect((plain(command.inputs?.connection) as { hostKey?: string }).hostKey).toBeUndefined();
  });

  it("connects with the SSH key as a Pulumi secret and puts no secret in any create string", async () => {
    const { registrations } = await runMockProgram(config(), secrets);
    const commands = registrations.filter((r) => r.type === "command:remote:Command");
    for (const command of commands) {
      const connection = command.props.connection as { privateKey?: unknown; host?: unknown; user?: unknown };
      expect(await outputIsSecret(connection.privateKey), `${command.name} privateKey is secret`).toBe(true);
      expect(plain(command.inputs?.connection)).toMatchObject({
        user: "ubuntu",
        privateKey: SECRET_VALUES.sshPrivateKey,
      });
      const received = command.inputs?.connection as Record<string, unknown>;
      expect(receivedAsSecret(received) || receivedAsSecret(received.privateKey)).toBe(true);
      for (const secret of Object.values(SECRET_VALUES)) {
        expect(String(command.inputs?.create).includes(secret)).toBe(false);
        expect(scriptOf(command).includes(secret)).toBe(false);
        expect(JSON.stringify(command.inputs?.triggers).includes(secret)).toBe(false);
      }
    }
  });

  it("passes the glance-manage DB connection on stdin as a secret, exported before the script, never on the command line", async () => {
    const raw = config({
      database: CONNECTION_ON_STDIN,
    });
    const { registrations } = await runMockProgram(raw, secrets);
    const expand = registrations.find((r) => r.name === "db/expand");
    expect(expand?.type).toBe("command:remote:Command");
    expect(await outputIsSecret(expand!.props.stdin)).toBe(true);
    expect(receivedAsSecret(expand!.inputs?.stdin)).toBe(true);
    const stdin = String(plain(expand!.inputs?.stdin));
    expect(stdin.startsWith("{\nexport OS_DATABASE__CONNECTION=")).toBe(true);
    expect(stdin).toContain("%3B%24(rm%20-rf%20%2F)@db.internal:3306/glance");
    expect(String(expand!.inputs?.create).includes(encodeURIComponent(SECRET_VALUES.dbPassword))).toBe(false);
    // node steps need no secret and get none
    const stop = registrations.find((r) => r.name === "node-2/stop");
    expect(receivedAsSecret(stop?.inputs?.stdin)).toBe(false);
    expect(String(stop?.inputs?.stdin)).not.toContain("OS_DATABASE__CONNECTION");
  });

  it("runs local nodes with local.Command, secrets as environment (secret), never in create", async () => {
    const raw = stackConfig(2, {
      exec: "command",
      nodes: [
        {
          name: "node-1",
          address: "127.0.0.1",
          transport: "local",
          healthUrl: "http://127.0.0.1:19301/healthcheck",
        },
        {
          name: "node-2",
          address: "127.0.0.1",
          transport: "local",
          healthUrl: "http://127.0.0.1:19302/healthcheck",
        },
      ],
      database: { host: "127.0.0.1", user: "glance", adminUser: "admin", passConnectionToGlanceManage: true },
    });
    const { registrations } = await runMockProgram(raw, secrets);
    const locals = registrations.filter((r) => r.type === "command:local:Command");
    expect(locals.length).toBe(2 * 4 + 2 + 4);
    const expand = locals.find((r) => r.name === "db/expand")!;
    expect(await outputIsSecret(expand.props.environment)).toBe(true);
    expect(receivedAsSecret(expand.inputs?.environment)).toBe(true);
    expect(plain(expand.inputs?.environment)).toMatchObject({
      OS_DATABASE__CONNECTION: expect.stringContaining("mysql+pymysql://glance:"),
    });
    for (const command of locals) {
      expect(command.inputs?.interpreter).toEqual(["/bin/bash", "-c"]);
      for (const secret of Object.values(SECRET_VALUES))
        expect(scriptOf(command).includes(secret)).toBe(false);
    }
  });

  it("the native executor's step resources hold every secret only in the secret `secrets` input", async () => {
    const { registrations } = await runMockProgram(stackConfig(3), secrets);
    const steps = registrations.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource");
    expect(steps.length).toBeGreaterThan(20);
    for (const step of steps) {
      const { secrets: secretInput, __provider: _provider, ...rest } = step.inputs ?? {};
      for (const secret of Object.values(SECRET_VALUES))
        expect(JSON.stringify(rest).includes(secret), step.name).toBe(false);
      if (secretInput !== undefined)
        expect(await outputIsSecret(step.props.secrets), `${step.name} secrets`).toBe(true);
    }
  });
});

/** What a node-step resource received that its executor acts on, with secrets unwrapped. */
function nodeStepInputs(registrations: Registration[]): Record<string, string> {
  const nodeStep =
    /^(node-\d+\/(prestage|stop|upgrade|upgrade-check|config-check|start|version)|db\/(expand|migrate|verify|contract))$/;
  return Object.fromEntries(
    registrations
      .filter((r) => nodeStep.test(r.name))
      .map((r) => {
        const { __provider: _provider, ...inputs } = r.inputs ?? {};
        return [r.name, JSON.stringify({ inputs: plain(inputs), timeouts: r.opts.customTimeouts })];
      }),
  );
}

/** A second known_hosts file, with other keys for the same nodes. */
const OTHER_KNOWN_HOSTS = path.join(tmpdir(), `gru-unit-other-known-hosts-${process.pid}`);
writeFileSync(
  OTHER_KNOWN_HOSTS,
  [10, 11, 12].map((n) => `10.0.1.${n} ${fixtureHostKey(`other-10.0.1.${n}`)}\n`).join(""),
);

const PARITY_BASE = {
  ssh: { user: "ubuntu", hostKeyPolicy: "strict" },
  database: {
    host: "db.internal",
    user: "glance",
    adminUser: "admin",
    passConnectionToGlanceManage: true,
    tls: true,
  },
};

/** One changed key each: [block, key, value]. Every key of ssh, nodeCommands and database is listed. */
const PARITY_CASES: Array<[string, string, unknown]> = [
  ["ssh", "user", "glance-ops"],
  ["ssh", "port", 2222],
  ["ssh", "hostKeyPolicy", "insecure"],
  ["ssh", "knownHostsFile", OTHER_KNOWN_HOSTS],
  ["ssh", "connectTimeoutSeconds", 42],
  ["nodeCommands", "stopCommand", "docker stop glance-api"],
  ["nodeCommands", "stoppedCheckCommand", "! docker ps -q -f name=glance-api | grep -q ."],
  ["nodeCommands", "upgradeCommand", "glance-switch $GLANCE_RELEASE"],
  ["nodeCommands", "prestageCommand", "glance-fetch \"$GLANCE_RELEASE\" '$GLANCE_TARGET_VERSION'"],
  ["nodeCommands", "startCommand", "docker start glance-api"],
  ["nodeCommands", "versionCommand", "cat /etc/glance/version"],
  ["nodeCommands", "glanceManageCommand", "docker exec glance-api glance-manage"],
  ["nodeCommands", "glanceStatusCommand", "docker exec glance-api glance-status"],
  ["nodeCommands", "glancePythonCommand", "docker exec -i glance-api python3"],
  ["nodeCommands", "healthUrl", "http://{address}:9393/healthcheck"],
  ["nodeCommands", "connectionsCommand", "ss -Htn state established '( sport = :9393 )'"],
  ["nodeCommands", "scriptTimeoutSeconds", 600],
  [
    "nodeCommands",
    "serverMove",
    {
      stopCommand: "docker stop glance-api glance-api-uwsgi",
      stoppedCheckCommand: "! docker ps -q -f name=glance-api | grep -q .",
      startCommand: "docker start glance-api-uwsgi",
    },
  ],
  ["database", "host", "db2.internal"],
  ["database", "port", 3307],
  ["database", "user", "glance2"],
  ["database", "name", "glance2"],
  ["database", "tls", false],
  ["database", "caFile", "/etc/ssl/glance-db-ca.pem"],
  ["database", "adminUser", "root"],
  ["database", "passConnectionToGlanceManage", false],
  ["database", "rdsParameterGroup", "glance-params"],
  ["database", "galeraMembers", ["10.0.0.11:3306", "10.0.0.12:3306", "10.0.0.13:3306"]],
];

/**
 * Keys no node step acts on, by design: they belong to the typed steps (the privilege preflight, the
 * RDS parameter group hint). The health URL is a node-step key: each start step gates on it.
 */
const NOT_NODE_STEP_KEYS = new Set([
  "database.adminUser",
  "database.rdsParameterGroup",
  // Read by the preflight only.
  "database.galeraMembers",
  // Run by the ALB drain (a typed step) itself, as the preflight runs versionCommand, with either executor.
  "nodeCommands.connectionsCommand",
]);

/** Keys that add node steps when set (both executors must add the same ones): prestage is off by default. */
const STEP_ADDING_KEYS: Record<string, string[]> = {
  "nodeCommands.prestageCommand": ["node-1/prestage", "node-2/prestage", "node-3/prestage"],
};

describe("parity: every ssh, nodeCommands and database key reaches both executors alike", () => {
  const inputsFor = async (exec: string, block?: string, key?: string, value?: unknown) => {
    const base: Record<string, unknown> = {
      ...PARITY_BASE,
      ssh: {
        ...PARITY_BASE.ssh,
        knownHostsFile: (stackConfig(3).ssh as { knownHostsFile: string }).knownHostsFile,
      },
    };
    const raw = stackConfig(3, { ...base, exec });
    if (block !== undefined && key !== undefined) {
      raw[block] = { ...((raw[block] as Record<string, unknown> | undefined) ?? {}), [key]: value };
    }
    return nodeStepInputs((await runMockProgram(raw, secrets)).registrations);
  };

  it.each(PARITY_CASES)("%s.%s", async (block, key, value) => {
    const changed: Record<string, boolean> = {};
    const added: Record<string, string[]> = {};
    for (const exec of ["native", "command"]) {
      const before = await inputsFor(exec);
      const after = await inputsFor(exec, block, key, value);
      added[exec] = Object.keys(after)
        .filter((step) => !(step in before))
        .sort();
      expect(Object.keys(before).filter((step) => !(step in after))).toEqual([]);
      changed[exec] =
        added[exec].length > 0 || Object.keys(before).some((step) => before[step] !== after[step]);
    }
    expect(changed.command, `exec: command ${changed.command ? "acts on" : "ignores"} ${block}.${key}`).toBe(
      changed.native,
    );
    expect(changed.native).toBe(!NOT_NODE_STEP_KEYS.has(`${block}.${key}`));
    expect(added.command).toEqual(added.native);
    expect(added.native).toEqual(STEP_ADDING_KEYS[`${block}.${key}`] ?? []);
  });

  it("nodeCommands.prestageCommand, once set: a changed value reaches both executors' prestage steps alike", async () => {
    const changed: Record<string, string[]> = {};
    for (const exec of ["native", "command"]) {
      const before = await inputsFor(exec, "nodeCommands", "prestageCommand", "glance-fetch one");
      const after = await inputsFor(exec, "nodeCommands", "prestageCommand", "glance-fetch two");
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
      changed[exec] = Object.keys(before).filter((step) => before[step] !== after[step]);
    }
    expect(changed.native).toEqual(["node-1/prestage", "node-2/prestage", "node-3/prestage"]);
    expect(changed.command).toEqual(changed.native);
  });

  it("lists every key of the three blocks", async () => {
    const { databaseSchema, nodeCommandsSchema, sshSchema } = await import("../../plan/config");
    const keys = (block: string) => PARITY_CASES.filter(([b]) => b === block).map(([, k]) => k);
    expect(keys("ssh").sort()).toEqual(Object.keys(sshSchema.shape).sort());
    expect(keys("nodeCommands").sort()).toEqual(Object.keys(nodeCommandsSchema.shape).sort());
    expect(keys("database").sort()).toEqual(Object.keys(databaseSchema.shape).sort());
  });
});

describe("the command executor runs prestageCommand like every node command (mock-level)", () => {
  // Quotes and dollars as an operator writes them; bash on the node reads them, nothing before it does.
  const PRESTAGE = `printf '%s|%s|%s\\n' "$GLANCE_NODE" "glance-api=2:\${GLANCE_TARGET_VERSION}*" '$GLANCE_RELEASE'`;

  it("the shared builder's script on stdin to bash, bounded by the step timeout, no secret anywhere", async () => {
    const raw = config({
      nodeCommands: { prestageCommand: PRESTAGE },
      database: CONNECTION_ON_STDIN,
    });
    const { registrations } = await runMockProgram(raw, secrets);
    const cfg = parsed(raw);
    const prestages = registrations.filter((r) => r.name.endsWith("/prestage"));
    expect(prestages.map((r) => r.name)).toEqual(["node-1/prestage", "node-2/prestage", "node-3/prestage"]);
    for (const command of prestages) {
      const node = command.name.split("/")[0];
      expect(command.type).toBe("command:remote:Command");
      expect(scriptOf(command)).toBe(
        scriptForStdin(`${OUTCOME_PREAMBLE}${buildNodeScript("prestage", cfg, { name: node })}`),
      );
      expect(command.inputs?.create).toBe("timeout -k 5 1800 bash -s");
      expect(command.inputs?.triggers).toEqual(["2024.1", node, "prestage"]);
      expect(command.opts.customTimeouts).toEqual({ create: "1860s", update: "1860s" });
      // no secret: not in the command line, not on stdin (which is then no secret either)
      expect(receivedAsSecret(command.inputs?.stdin)).toBe(false);
      for (const secret of Object.values(SECRET_VALUES)) {
        expect(String(command.inputs?.create).includes(secret)).toBe(false);
        expect(scriptOf(command).includes(secret)).toBe(false);
      }
      expect(scriptOf(command)).not.toContain("OS_DATABASE__CONNECTION");
    }
  });

  it("its stdin, run for real under dash as the login shell: the value arrives intact and the step reports its times", async () => {
    const raw = config({ nodeCommands: { prestageCommand: PRESTAGE } });
    const { registrations } = await runMockProgram(raw, secrets);
    const stdin = scriptOf(registrations.find((r) => r.name === "node-2/prestage")!);
    const run = spawnSync("dash", ["-c", remoteBashCommand(30)], { input: stdin, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      "node-2|glance-api=2:28.2.0*|$GLANCE_RELEASE\npre-staged release 2024.1 (28.2.0) on node-2 while it still serves (prestageCommand exit 0)\n",
    );
    const times = markers(run.stderr);
    expect(Date.parse(times.endedAt)).toBeGreaterThanOrEqual(Date.parse(times.startedAt));
  });
});

describe("the command executor refuses at plan what it cannot honour", () => {
  const problemsOf = (raw: Record<string, unknown>, knownHosts?: string): string => {
    try {
      parseConfigEntries(entriesOf(raw), knownHosts === undefined ? undefined : () => knownHosts);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    return "";
  };
  const keysFor = (...nodes: number[]) =>
    nodes.map((n) => `10.0.1.${n} ${fixtureHostKey(`10.0.1.${n}`)}\n`).join("");

  it("a node without a key in known_hosts under strict: names the node, the file and the command to fetch it", () => {
    const message = problemsOf(
      config({ ssh: { user: "ubuntu", knownHostsFile: "/etc/kh" } }),
      keysFor(10, 12),
    );
    expect(message).toContain(
      "glance-rolling-upgrade:nodes[1] (node-2, 10.0.1.11:22): no host key in /etc/kh, and ssh.hostKeyPolicy is strict: add it with `ssh-keyscan -t ed25519 10.0.1.11 >> /etc/kh`",
    );
    expect(message).not.toContain("node-1,");
  });

  it("accept-new with an unknown node: remote.Command cannot trust on first use", () => {
    const message = problemsOf(
      config({ ssh: { user: "ubuntu", hostKeyPolicy: "accept-new", knownHostsFile: "/etc/kh" } }),
      keysFor(10, 11),
    );
    expect(message).toContain(
      "(node-3, 10.0.1.12:22): no host key in /etc/kh, and exec: command cannot trust on first use",
    );
    // with the key known, accept-new is honoured: the key is checked
    expect(
      problemsOf(
        config({ ssh: { user: "ubuntu", hostKeyPolicy: "accept-new", knownHostsFile: "/etc/kh" } }),
        keysFor(10, 11, 12),
      ),
    ).toBe("");
  });

  it("an unreadable known_hosts file is named", () => {
    const message = problemsOf(config({ ssh: { user: "ubuntu", knownHostsFile: "/nonexistent/kh" } }));
    expect(message).toContain(
      'glance-rolling-upgrade:ssh.knownHostsFile = "/nonexistent/kh": cannot read it',
    );
  });

  it("a NEW NODE the stack launches: refused for command (strict or not); native takes strict (TOFU for it alone)", () => {
    const provisioned = provisionedStackConfig(2);
    const commandMessage = problemsOf({ ...provisioned, exec: "command" });
    expect(commandMessage).toContain(
      'glance-rolling-upgrade:exec = "command": remote.Command cannot check the host key of a NEW NODE the stack launches',
    );
    const strict = { ...provisioned, ssh: { ...(provisioned.ssh as object), hostKeyPolicy: "strict" } };
    expect(problemsOf({ ...strict, exec: "command" })).toContain(
      'glance-rolling-upgrade:exec = "command": remote.Command cannot check the host key of a NEW NODE the stack launches',
    );
    expect(problemsOf(strict)).toBe("");
    expect(problemsOf(provisioned)).toBe("");
  });
});

describe("the command executor's scripts under a plain POSIX login shell (really run, with dash)", () => {
  it("dash runs the remote command, bash runs the script from stdin with set -euo pipefail, secrets first", () => {
    const script = `set -euo pipefail\nexport GLANCE_NODE='node-1'\necho "node $GLANCE_NODE sees [$GRU_SECRET]"\n`;
    const stdin = scriptForStdin(
      `${OUTCOME_PREAMBLE}${script}`,
      secretExports({ GRU_SECRET: "it's $(secret)" }),
    );
    const run = spawnSync("dash", ["-c", remoteBashCommand(30)], { input: stdin, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("node node-1 sees [it's $(secret)]\n");
    const times = markers(run.stderr);
    expect(Date.parse(times.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(times.endedAt)).toBeGreaterThanOrEqual(Date.parse(times.startedAt));
  });

  it("a failing pipeline fails the command (pipefail) and still reports its end; a script past its timeout is stopped", () => {
    const failing = spawnSync("dash", ["-c", remoteBashCommand(30)], {
      input: scriptForStdin(`${OUTCOME_PREAMBLE}set -euo pipefail\nfalse | true\necho unreachable\n`),
      encoding: "utf8",
    });
    // pipefail is in force although dash, which has no pipefail, is the login shell
    expect(failing.status).toBe(1);
    expect(failing.stdout).toBe("");
    expect(markers(failing.stderr).endedAt).not.toBe("");
    const slow = spawnSync("dash", ["-c", remoteBashCommand(1)], {
      input: scriptForStdin(`${OUTCOME_PREAMBLE}sleep 20\n`),
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(slow.status, "GNU timeout's exit code").toBe(124);
  });
});

describe("the summary reads a command step's outcome like a native step's (mock-level)", () => {
  it("start, end, seconds and the last line of output for every node step", async () => {
    const { upgrade } = await runMockProgram(config(), secrets);
    const summary = await new Promise<Record<string, StoredOutcome>>((resolve) =>
      upgrade.summary.apply(resolve),
    );
    for (const step of ["node-2/stop", "node-2/upgrade", "db/expand", "db/contract"]) {
      expect(summary[step], step).toEqual({
        startedAt: "2026-11-26T10:00:00.000Z",
        endedAt: "2026-11-26T10:00:02.500Z",
        seconds: 2.5,
        result: { stdout: "28.2.0" },
      });
    }
  });
});
