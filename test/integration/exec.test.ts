import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../lab/services/ports";
import { startSshd, type RunningSshd } from "../../lab/services/sshd";
import { runScript } from "../../steps/exec/run";
import { closeSshConnections, sshPrivateDirectory } from "../../steps/exec/sshMaster";
import type { ScriptRun, SshTarget } from "../../steps/exec/types";
import { recordingContext, stepFailure } from "../support/stepHarness";

const SECRET = `pa'ss "w$rd" \\ with spaces ${Date.now()}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pid a script printed as "pid=N" in the log. */
function pidFromLog(lines: string[]): number | undefined {
  const line = lines.find((l) => /^\| pid=\d+$/.test(l));
  return line === undefined ? undefined : Number(line.slice("| pid=".length));
}

/** Every process's argv, joined, with the pid; read while a script runs. */
function allArgv(): { pid: string; argv: string }[] {
  const result: { pid: string; argv: string }[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      result.push({ pid, argv: fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ") });
    } catch {
      // The process ended while we looked.
    }
  }
  return result;
}

function isGoneOrZombie(pid: number): boolean {
  try {
    return /\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/** A script that reports its pid and then waits (without a fixed sleep) until the test says go. */
const waitForGoScript = 'echo "pid=$$"\nwhile [ ! -e "$GO_FILE" ]; do sleep 0.05; done\necho done';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "exec-test-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("runScript over local bash", () => {
  const local = (script: string, extra: Partial<ScriptRun> = {}): ScriptRun => ({
    script,
    transport: "local",
    ...extra,
  });

  it("returns exact stdout and stderr and streams every line to the log", async () => {
    const ctx = recordingContext();
    const result = await runScript(local("printf 'a\\nb b\\n'\necho oops >&2\nprintf 'no newline'"), ctx);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("a\nb b\nno newline");
    expect(result.stderr).toBe("oops\n");
    expect(ctx.lines).toEqual(expect.arrayContaining(["| a", "| b b", "| oops", "| no newline"]));
    expect(result.seconds).toBeGreaterThan(0);
  });

  it("passes env and secrets as environment variables", async () => {
    const result = await runScript(
      local('echo "$GREETING"\nprintf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1', {
        env: { GREETING: "hello there" },
        secrets: { DB_PASSWORD: SECRET },
      }),
      recordingContext(),
    );
    expect(result.stdout).toBe(`hello there\n${sha256(SECRET)}\n`);
  });

  it("fails a non-zero exit with the exit code and the last 20 lines of output", async () => {
    const err = await stepFailure(
      runScript(
        local("for i in $(seq 1 30); do echo line-$i; done\necho bad-thing >&2\nexit 7"),
        recordingContext(),
      ),
    );
    expect(err.message).toContain("exit code 7");
    expect(err.message).toContain("line-30");
    expect(err.message).toContain("bad-thing");
    expect(err.message).toContain("line-12");
    expect(err.message).not.toContain("line-11\n");
  });

  it("accepts the exit codes listed in okExitCodes", async () => {
    const result = await runScript(local("exit 3", { okExitCodes: [0, 3] }), recordingContext());
    expect(result.exitCode).toBe(3);
    await expect(runScript(local("exit 4", { okExitCodes: [0, 3] }), recordingContext())).rejects.toThrow(
      "exit code 4 (expected 0 or 3)",
    );
  });

  it("kills the whole process group on timeout", async () => {
    const ctx = recordingContext();
    const started = Date.now();
    const err = await stepFailure(
      runScript(local('sleep 30 &\necho "pid=$!"\nwait', { timeoutSeconds: 1 }), ctx),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.message).toContain("timed out after 1 s");
    const backgroundSleep = pidFromLog(ctx.lines);
    expect(backgroundSleep).toBeDefined();
    await waitFor(
      () => (isGoneOrZombie(backgroundSleep!) ? true : undefined),
      "the background sleep to die",
      3_000,
    );
  });

  it("redacts secrets from logged lines, the error tail and the returned output", async () => {
    const ctx = recordingContext();
    const result = await runScript(
      local('echo "the password is $DB_PASSWORD!"\necho "$DB_PASSWORD" >&2', {
        secrets: { DB_PASSWORD: SECRET },
      }),
      ctx,
    );
    expect(ctx.lines).toContain("| the password is [secret]!");
    expect(ctx.lines.join("\n")).not.toContain(SECRET);
    expect(result.stdout).toBe("the password is [secret]!\n");
    expect(result.stderr).toBe("[secret]\n");
    const err = await stepFailure(
      runScript(local('echo "leak: $DB_PASSWORD"\nexit 1', { secrets: { DB_PASSWORD: SECRET } }), ctx),
    );
    expect(err.message).toContain("leak: [secret]");
    expect(err.message).not.toContain(SECRET);
  });

  it("keeps secrets out of the child's argv (read from /proc while it runs)", async () => {
    const ctx = recordingContext();
    const goFile = path.join(tmp, "go-local");
    const running = runScript(
      local(waitForGoScript, { env: { GO_FILE: goFile }, secrets: { DB_PASSWORD: SECRET } }),
      ctx,
    );
    const pid = await waitFor(() => pidFromLog(ctx.lines), "the script to print its pid");
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    fs.writeFileSync(goFile, "");
    await running;
    expect(argv.filter((a) => a !== "")).toEqual(["bash", "-s"]);
    expect(argv.join(" ")).not.toContain(SECRET);
    expect(environ).toContain(`DB_PASSWORD=${SECRET}`);
  });

  it("returns when the script exits even if a background child keeps its output open", async () => {
    const ctx = recordingContext();
    const started = Date.now();
    const result = await runScript(local('sleep 30 &\necho "pid=$!"\necho started'), ctx);
    const elapsedMs = Date.now() - started;
    const straySleep = pidFromLog(ctx.lines);
    if (straySleep !== undefined) process.kill(straySleep, "SIGKILL");
    expect(result.stdout).toContain("started\n");
    expect(elapsedMs).toBeLessThan(3_000);
  });

  it("does not let a command that reads stdin swallow the rest of the script", async () => {
    const result = await runScript(local("cat\necho after"), recordingContext());
    expect(result.stdout).toBe("after\n");
  });

  it("runs nothing of a script with a syntax error", async () => {
    const err = await stepFailure(runScript(local("echo first-line\nif then fi"), recordingContext()));
    expect(err.message).toContain("exit code 2");
    expect(err.message).not.toContain("| first-line");
    expect(err.message).not.toMatch(/^first-line$/m);
  });

  it("rejects an environment name that is not a plain variable name", async () => {
    await expect(runScript(local("true", { env: { "BAD-NAME": "x" } }), recordingContext())).rejects.toThrow(
      'env name "BAD-NAME" is not a valid variable name',
    );
    await expect(runScript(local("true", { secrets: { lower: "x" } }), recordingContext())).rejects.toThrow(
      'secrets name "lower"',
    );
  });
});

describe("runScript over ssh (real sshd on loopback)", () => {
  let sshd: RunningSshd;
  let target: SshTarget;
  const ssh = (script: string, extra: Partial<ScriptRun> = {}, sshTarget: SshTarget = target): ScriptRun => ({
    script,
    transport: "ssh",
    ssh: sshTarget,
    ...extra,
  });
  const acceptedConnections = () => (sshd.log().match(/Accepted publickey/g) ?? []).length;

  beforeAll(async () => {
    sshd = await startSshd({ dir: path.join(tmp, "sshd") });
    target = {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKeyPolicy: "strict",
      knownHostsFile: sshd.knownHostsFile,
      connectTimeoutSeconds: 5,
    };
  });
  afterAll(async () => {
    await closeSshConnections();
    await sshd?.stop();
  });

  it("runs a script on the node and returns its exact output", async () => {
    const ctx = recordingContext();
    const result = await runScript(
      ssh('echo "user=$(id -un)"\necho "$GREETING"', { env: { GREETING: "hi" } }),
      ctx,
    );
    expect(result.stdout).toBe(`user=${sshd.user}\nhi\n`);
    expect(result.exitCode).toBe(0);
    const opened = ctx.lines.find((l) =>
      l.startsWith(`ssh connection to ${sshd.user}@127.0.0.1:${sshd.port} open`),
    );
    console.log(opened);
    expect(opened).toBeDefined();
  });

  it("delivers a secret to the remote script through stdin, redacted in the log", async () => {
    const ctx = recordingContext();
    const result = await runScript(
      ssh('printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1\necho "pw=$DB_PASSWORD"', {
        secrets: { DB_PASSWORD: SECRET },
      }),
      ctx,
    );
    expect(result.stdout).toBe(`${sha256(SECRET)}\npw=[secret]\n`);
    expect(ctx.lines.join("\n")).not.toContain(SECRET);
  });

  it("keeps the secret and the private key out of every process's argv", async () => {
    const ctx = recordingContext();
    const goFile = path.join(tmp, "go-ssh");
    const keyLine = sshd.privateKey.split("\n")[1];
    expect(keyLine.length).toBeGreaterThan(20);
    const running = runScript(
      ssh(waitForGoScript, { env: { GO_FILE: goFile }, secrets: { DB_PASSWORD: SECRET } }),
      ctx,
    );
    const remotePid = await waitFor(() => pidFromLog(ctx.lines), "the remote script to print its pid");
    const argvs = allArgv();
    fs.writeFileSync(goFile, "");
    await running;
    // The sample did catch the ssh client and the remote bash...
    expect(argvs.some((p) => /^ssh .*-- 127\.0\.0\.1 bash -s/.test(p.argv))).toBe(true);
    expect(argvs.find((p) => p.pid === String(remotePid))?.argv).toMatch(/bash -s/);
    // ...and no argv holds a secret.
    expect(argvs.filter((p) => p.argv.includes(SECRET))).toEqual([]);
    expect(argvs.filter((p) => p.argv.includes(keyLine))).toEqual([]);
  });

  it("reuses one multiplexed connection per node", async () => {
    await runScript(ssh("true"), recordingContext());
    const before = acceptedConnections();
    const dir = sshPrivateDirectory();
    expect(dir).toBeDefined();
    const sockets = fs.readdirSync(dir!).filter((name) => fs.statSync(path.join(dir!, name)).isSocket());
    expect(sockets).toHaveLength(1);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await runScript(ssh(`echo run-${i}`), recordingContext());
    const perRunMs = (performance.now() - started) / 5;
    expect(acceptedConnections()).toBe(before);
    console.log(`ssh step over the shared connection: ${perRunMs.toFixed(0)} ms per run`);
    expect(fs.statSync(dir!).mode & 0o777).toBe(0o700);
    // The key never has a name (steps/exec/keyInput.ts): the directory holds the control socket only.
    expect(fs.readdirSync(dir!)).toEqual(sockets);
  });

  it("fails a non-zero remote exit with its code and output tail, including exit 255 from the script", async () => {
    const err = await stepFailure(runScript(ssh("echo about-to-fail\nexit 9"), recordingContext()));
    expect(err.message).toContain("exit code 9");
    expect(err.message).toContain("about-to-fail");
    const err255 = await stepFailure(
      runScript(ssh("echo script-says-255 >&2\nexit 255"), recordingContext()),
    );
    expect(err255.message).toContain("exit code 255");
    expect(err255.message).toContain("script-says-255");
  });

  it("stops the remote script on timeout", async () => {
    const ctx = recordingContext();
    const started = Date.now();
    const err = await stepFailure(
      runScript(ssh('sleep 30 &\necho "pid=$!"\nwait', { timeoutSeconds: 1 }), ctx),
    );
    expect(err.message).toContain("timed out after 1 s");
    expect(Date.now() - started).toBeLessThan(8_000);
    const remoteSleep = pidFromLog(ctx.lines);
    expect(remoteSleep).toBeDefined();
    await waitFor(() => (isGoneOrZombie(remoteSleep!) ? true : undefined), "the remote sleep to die", 8_000);
  });

  it("says the host is unreachable when nothing listens on the port", async () => {
    const closedPort = await findFreePort();
    const err = await stepFailure(
      runScript(ssh("true", {}, { ...target, port: closedPort }), recordingContext()),
    );
    expect(err.message).toContain(`cannot reach ${sshd.user}@127.0.0.1:${closedPort}`);
    expect(err.message).toContain("Connection refused");
  });

  it("says the key was refused, and for which user", async () => {
    const otherKey = path.join(tmp, "other_key");
    const keygen = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
    expect(keygen.status).toBe(0);
    const err = await stepFailure(
      runScript(
        ssh("true", {}, { ...target, privateKey: fs.readFileSync(otherKey, "utf8") }),
        recordingContext(),
      ),
    );
    expect(err.message).toContain(
      `ssh key refused by ${sshd.user}@127.0.0.1:${sshd.port} for user "${sshd.user}"`,
    );
    expect(err.message).toContain("authorized_keys");
  });

  it("says the host key changed, and how to fix the known_hosts entry", async () => {
    const otherHostKey = path.join(tmp, "other_host_key");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherHostKey]);
    const wrongKnownHosts = path.join(tmp, "wrong_known_hosts");
    const wrongKey = fs.readFileSync(`${otherHostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${wrongKey}\n`);
    const err = await stepFailure(
      runScript(ssh("true", {}, { ...target, knownHostsFile: wrongKnownHosts }), recordingContext()),
    );
    expect(err.message).toContain(`host key mismatch for ${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(err.message).toContain(`ssh-keygen -R '[127.0.0.1]:${sshd.port}' -f ${wrongKnownHosts}`);
  });

  it("refuses an unknown host key under strict, trusts it on first use under accept-new", async () => {
    const emptyKnownHosts = path.join(tmp, "empty_known_hosts");
    fs.writeFileSync(emptyKnownHosts, "");
    const unknown = { ...target, knownHostsFile: emptyKnownHosts };
    const err = await stepFailure(runScript(ssh("true", {}, unknown), recordingContext()));
    expect(err.message).toContain(
      `host key of ${sshd.user}@127.0.0.1:${sshd.port} is not in ${emptyKnownHosts}`,
    );
    expect(err.message).toContain("ssh-keyscan");

    const result = await runScript(
      ssh("echo ok", {}, { ...unknown, hostKeyPolicy: "accept-new" }),
      recordingContext(),
    );
    expect(result.stdout).toBe("ok\n");
    expect(fs.readFileSync(emptyKnownHosts, "utf8")).toContain(sshd.hostPublicKey.split(" ")[1]);

    const insecure = await runScript(
      ssh("echo ok", {}, { ...target, knownHostsFile: undefined, hostKeyPolicy: "insecure" }),
      recordingContext(),
    );
    expect(insecure.stdout).toBe("ok\n");
  });

  it("the lab sshd's stop() also ends open connections", async () => {
    const dir = path.join(tmp, "sshd-stop");
    const second = await startSshd({ dir });
    const secondTarget = {
      ...target,
      port: second.port,
      privateKey: second.privateKey,
      knownHostsFile: second.knownHostsFile,
    };
    await runScript(ssh("true", {}, secondTarget), recordingContext());
    await second.stop();
    const err = await stepFailure(runScript(ssh("true", {}, secondTarget), recordingContext()));
    expect(err.message).toContain(`cannot reach ${sshd.user}@127.0.0.1:${second.port}`);
  });

  it("closeSshConnections closes the masters and removes their directory", async () => {
    await runScript(ssh("true"), recordingContext());
    const dir = sshPrivateDirectory();
    expect(dir).toBeDefined();
    const masters = () => allArgv().filter((p) => p.argv.startsWith("ssh ") && p.argv.includes(dir!));
    expect(masters().length).toBeGreaterThan(0);
    await closeSshConnections();
    expect(fs.existsSync(dir!)).toBe(false);
    await waitFor(() => (masters().length === 0 ? true : undefined), "the ssh masters to exit", 5_000);
    const before = acceptedConnections();
    await runScript(ssh("true"), recordingContext());
    expect(acceptedConnections()).toBe(before + 1);
  });
});
