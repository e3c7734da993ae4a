/**
 * The `command` executor can't run here (the Command plugin can't be installed), so these tests are
 * mock-level: they prove on the registered resources that @pulumi/command gets the very scripts the
 * native executor runs, and that secrets travel only as Pulumi secrets, never in a command line.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { buildNodeScript, NodeScriptKind } from "../../components/exec/scripts";
import { parseConfigEntries } from "../../components/config";
import { Registration, runMockProgram, SECRET_VALUES, stackConfig } from "./support/mockProgram";

const secrets = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const KINDS: Record<string, NodeScriptKind> = {
  stop: "stop",
  upgrade: "upgrade",
  start: "start",
  version: "version",
  expand: "expand",
  migrate: "migrate",
  verify: "verify-migrations",
  contract: "contract",
};

function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return stackConfig(3, { exec: "command", ...overrides });
}

function parsed(raw: Record<string, unknown>) {
  return parseConfigEntries([
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
  ]);
}

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

function scriptOf(registration: Registration): string {
  return String(registration.inputs?.create ?? "");
}

async function outputIsSecret(value: unknown): Promise<boolean> {
  return pulumi.Output.isInstance(value) ? pulumi.isSecret(value as pulumi.Output<unknown>) : false;
}

describe("the command executor (mock-level: the Command plugin cannot run here)", () => {
  it("gives remote.Command exactly the scripts the native executor runs", async () => {
    const raw = config();
    const { registrations } = await runMockProgram(raw, secrets);
    const commands = registrations.filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBe(3 * 4 + 4); // stop/upgrade/start/version per node + expand/migrate/verify/contract
    const cfg = parsed(raw);
    for (const command of commands) {
      const [owner, step] = command.name.split("/");
      const node = owner === "db" ? "node-1" : owner;
      expect(scriptOf(command), command.name).toBe(buildNodeScript(KINDS[step], cfg, { name: node }));
      expect(command.inputs?.update).toBe(command.inputs?.create);
      expect(command.inputs?.triggers).toEqual(["2024.1", node, KINDS[step]]);
    }
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
        expect(scriptOf(command).includes(secret)).toBe(false);
        expect(JSON.stringify(command.inputs?.triggers).includes(secret)).toBe(false);
      }
    }
  });

  it("passes the glance-manage DB connection on stdin as a secret, read by `. /dev/stdin`, never on the command line", async () => {
    const raw = config({
      database: {
        host: "db.internal",
        user: "glance",
        adminUser: "admin",
        passConnectionToGlanceManage: true,
      },
    });
    const { registrations } = await runMockProgram(raw, secrets);
    const expand = registrations.find((r) => r.name === "db/expand");
    expect(expand?.type).toBe("command:remote:Command");
    expect(scriptOf(expand!).startsWith("set -a; . /dev/stdin; set +a\n")).toBe(true);
    expect(await outputIsSecret(expand!.props.stdin)).toBe(true);
    expect(receivedAsSecret(expand!.inputs?.stdin)).toBe(true);
    const stdin = String(plain(expand!.inputs?.stdin));
    expect(stdin).toContain("export OS_DATABASE__CONNECTION=");
    expect(stdin).toContain("%3B%24(rm%20-rf%20%2F)@db.internal:3306/glance");
    expect(scriptOf(expand!).includes(encodeURIComponent(SECRET_VALUES.dbPassword))).toBe(false);
    // node steps need no secret and get none
    const stop = registrations.find((r) => r.name === "node-2/stop");
    expect(stop?.inputs?.stdin).toBeUndefined();
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
    expect(locals.length).toBe(2 * 4 + 4);
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
