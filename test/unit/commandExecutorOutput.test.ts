/**
 * Mock-level (the Command plugin cannot run here): what a `command` step's output carries out of the
 * node. @pulumi/command 1.2.1 logs every line of stdout and stderr (`logging` defaults to both),
 * keeps both as plaintext outputs in the state (only `connection` is a secret output), and puts the
 * whole output in its error when the command fails, whatever `logging` says (provider/pkg/provider/
 * {remote,local}/commandOutputs.go). So the scripts are taken as registered and run under real bash
 * with a glance-manage that fails printing its connection, as an oslo.db error can.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as pulumi from "@pulumi/pulumi";
import { Registration, runMockProgram, SECRET_VALUES, stackConfig } from "./support/mockProgram";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const secrets = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const PASSWORD_IN_URL = encodeURIComponent(SECRET_VALUES.dbPassword);

function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] !== undefined && "value" in record) return plain(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** A custom resource's additionalSecretOutputs, as the mock recorded its options. */
function secretOutputsOf(registration: Registration | undefined): string[] | undefined {
  return (registration?.opts as pulumi.CustomResourceOptions | undefined)?.additionalSecretOutputs;
}

const LOCAL_NODES = [1, 2].map((n) => ({
  name: `node-${n}`,
  address: "127.0.0.1",
  transport: "local",
  healthUrl: `http://127.0.0.1:1930${n}/healthcheck`,
}));
const WITH_CONNECTION = {
  host: "db.internal",
  user: "glance",
  adminUser: "admin",
  passConnectionToGlanceManage: true,
};

describe("the command executor's output (mock-level: the Command plugin cannot run here)", () => {
  let bin: string;

  beforeAll(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), "gru-fake-manage-"));
    fs.writeFileSync(
      path.join(bin, "glance-manage"),
      [
        "#!/bin/sh",
        'echo "running $* on $OS_DATABASE__CONNECTION"',
        'echo "ERROR: (pymysql.err.OperationalError) (2003) $OS_DATABASE__CONNECTION" >&2',
        "exit 1",
      ].join("\n"),
      { mode: 0o755 },
    );
  });

  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  /** Runs what bash would run, with the stand-in glance-manage first on PATH. */
  function runUnderBash(args: string[], input: string, env: Record<string, string> = {}) {
    // --norc: bash takes a socketpair stdin for sshd's and would read ~/.bashrc.
    return spawnSync("bash", ["--norc", ...args], {
      input,
      encoding: "utf8",
      env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, ...env },
    });
  }

  it("mock-level: a step with secrets has stdout and stderr as secret outputs; one without keeps them plain", async () => {
    const { registrations } = await runMockProgram(
      stackConfig(3, { exec: "command", database: WITH_CONNECTION }),
      secrets,
    );
    const expand = registrations.find((r) => r.name === "db/expand");
    expect(expand?.type).toBe("command:remote:Command");
    // (remote.Command adds its own `connection`.)
    expect(secretOutputsOf(expand)).toEqual(expect.arrayContaining(["stdout", "stderr"]));
    const stop = registrations.find((r) => r.name === "node-2/stop");
    expect(secretOutputsOf(stop)).not.toContain("stdout");
  });

  it("mock-level: remote db/expand's registered stdin, run under bash, prints [secret] where glance-manage printed the connection", async () => {
    const { registrations } = await runMockProgram(
      stackConfig(3, { exec: "command", database: WITH_CONNECTION }),
      secrets,
    );
    const expand = registrations.find((r) => r.name === "db/expand");
    const stdin = String(plain(expand?.inputs?.stdin));
    expect(stdin).toContain(`export OS_DATABASE__CONNECTION=`);
    const run = runUnderBash(["-s"], stdin);
    // The failure still fails, and the summary's markers still arrive.
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^gru-step-started \S+$/m);
    expect(run.stderr).toMatch(/^gru-step-ended \S+$/m);
    expect(run.stdout).toContain("running db expand on [secret]");
    expect(run.stderr).toContain("(2003) [secret]");
    expect(run.stdout + run.stderr).not.toContain(PASSWORD_IN_URL);
    expect(run.stdout + run.stderr).not.toContain("mysql+pymysql://");
  });

  it("mock-level: local db/expand's registered command, run with its secret environment, prints [secret] too", async () => {
    const { registrations } = await runMockProgram(
      stackConfig(2, {
        exec: "command",
        nodes: LOCAL_NODES,
        database: { ...WITH_CONNECTION, host: "127.0.0.1" },
      }),
      secrets,
    );
    const expand = registrations.find((r) => r.name === "db/expand");
    expect(expand?.type).toBe("command:local:Command");
    expect(secretOutputsOf(expand)).toEqual(["stdout", "stderr"]);
    const env = plain(expand?.inputs?.environment) as Record<string, string>;
    expect(env.OS_DATABASE__CONNECTION).toContain(PASSWORD_IN_URL);
    // The command line holds the names only: no value, and it is no secret itself.
    const create = expand?.inputs?.create;
    expect(typeof create).toBe("string");
    expect(String(create)).not.toContain(PASSWORD_IN_URL);
    const run = runUnderBash(["-c", String(create)], "", env);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("running db expand on [secret]");
    expect(run.stderr).toContain("(2003) [secret]");
    expect(run.stdout + run.stderr).not.toContain(PASSWORD_IN_URL);
  });

  it("negative control: the stand-in glance-manage alone prints the connection in clear", () => {
    const connection = `mysql+pymysql://glance:${PASSWORD_IN_URL}@db.internal:3306/glance`;
    const run = runUnderBash(["-c", "glance-manage db expand"], "", { OS_DATABASE__CONNECTION: connection });
    expect(run.stdout + run.stderr).toContain(PASSWORD_IN_URL);
  });
});
