/**
 * Runs a script on a node through the system OpenSSH client, one multiplexed connection per node:
 * the first step to a node opens a control master, every later step rides on it.
 * The script, the environment and the secrets go on stdin (`bash -s`); the private key goes into a
 * 0600 file in a 0700 directory of this process. Nothing secret is ever in an argv.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StepError, type StepContext } from "../context";
import { remoteBashCommand, runProcess, scriptForStdin } from "./local";
import { exportLines } from "./shellQuote";
import type { OutputSinks, ProcessOutcome, ScriptRun, SshTarget } from "./types";

const CONTROL_PERSIST = "60s";
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
/** How long after the local timeout the remote `timeout` gets to report before we kill the client. */
const REMOTE_TIMEOUT_SLACK_SECONDS = 10;
/** GNU timeout's exit code when it had to stop the command. */
const TIMEOUT_EXIT_CODE = 124;

interface Connection {
  /** `user@host:port`, for messages. */
  label: string;
  controlPath: string;
  keyFile?: string;
  /** Settles once the control master is up (or failed to come up). */
  ready: Promise<void>;
}

const connections = new Map<string, Connection>();
let privateDir: string | undefined;
let exitHookRegistered = false;

export function sshLabel(target: SshTarget): string {
  return `${target.user}@${target.host}:${target.port}`;
}

/** The directory holding control sockets and key files; undefined until the first ssh step. */
export function sshPrivateDirectory(): string | undefined {
  return privateDir;
}

export async function runSsh(run: ScriptRun, sinks: OutputSinks, ctx: StepContext): Promise<ProcessOutcome> {
  const target = run.ssh;
  if (!target) throw new StepError("transport is ssh but no ssh target is configured");
  validateTarget(target);
  const connection = await connectionTo(target, ctx);

  const exports = exportLines({ ...run.env, ...run.secrets });
  // The remote `timeout` stops the remote process group; killing only our client would leave it running.
  const remoteCommand = remoteBashCommand(run.timeoutSeconds);
  const started = Date.now();
  const outcome = await runProcess({
    command: "ssh",
    args: [...sshOptions(target, connection), "--", target.host, remoteCommand],
    env: process.env,
    stdin: scriptForStdin(run.script, exports),
    timeoutMs:
      run.timeoutSeconds === undefined
        ? undefined
        : (run.timeoutSeconds + REMOTE_TIMEOUT_SLACK_SECONDS) * 1000,
    signal: ctx.signal,
    sinks,
  });
  const remoteTimedOut =
    run.timeoutSeconds !== undefined &&
    outcome.exitCode === TIMEOUT_EXIT_CODE &&
    Date.now() - started >= run.timeoutSeconds * 1000;
  return { ...outcome, timedOut: outcome.timedOut || remoteTimedOut };
}

/**
 * An operator-facing message when ssh itself failed (exit 255 with one of the client's own errors),
 * or undefined when the output looks like the script's own.
 */
export function classifySshFailure(stderr: string, target: SshTarget): string | undefined {
  const label = sshLabel(target);
  const detail = lastLines(stderr, 3);
  const knownHosts = target.knownHostsFile ?? "~/.ssh/known_hosts";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/.test(stderr)) {
    return (
      `host key mismatch for ${label}: the key the node presents differs from the one in ${knownHosts} ` +
      `(${detail}). If the node was legitimately reinstalled, replace its entry: ` +
      `ssh-keygen -R '[${target.host}]:${target.port}' -f ${knownHosts} && ` +
      `ssh-keyscan -p ${target.port} ${target.host} >> ${knownHosts} (verify the fingerprint out of band); ` +
      `otherwise treat it as a possible man-in-the-middle and stop.`
    );
  }
  if (/No \S+ host key is known for|Host key verification failed/.test(stderr)) {
    return (
      `host key of ${label} is not in ${knownHosts} and the host key policy is ${target.hostKeyPolicy} (${detail}). ` +
      `Add it: ssh-keyscan -p ${target.port} ${target.host} >> ${knownHosts} (verify the fingerprint out of band), ` +
      `or use hostKeyPolicy accept-new to trust it on first use.`
    );
  }
  if (/Permission denied \(/.test(stderr)) {
    return (
      `ssh key refused by ${label} for user "${target.user}" (${detail}). ` +
      `Add the configured key's public half to ~${target.user}/.ssh/authorized_keys on the node, ` +
      `or configure the key and user that the node accepts.`
    );
  }
  if (
    /Connection refused|Connection timed out|No route to host|Network is unreachable|Could not resolve hostname|Connection reset|Connection closed by|kex_exchange_identification|banner exchange/.test(
      stderr,
    )
  ) {
    return (
      `cannot reach ${label}: ${detail}. Check that the node is up, that sshd listens on port ${target.port}, ` +
      `and that no firewall or security group blocks it.`
    );
  }
  if (
    /Shared connection to .* closed|Connection to .* closed by remote host|client_loop|Broken pipe/.test(
      stderr,
    )
  ) {
    return (
      `the ssh connection to ${label} was lost during the script (${detail}); the script may have run in part. ` +
      `Check the node, then re-run: the steps are safe to repeat.`
    );
  }
  if (/^(ssh|mux_client|ControlSocket|Control socket)\b/m.test(stderr)) {
    return `ssh to ${label} failed: ${detail}`;
  }
  return undefined;
}

/** Closes every control master this process opened and removes the key files. */
export async function closeSshConnections(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  await Promise.all(
    open.map(async (connection) => {
      await connection.ready.catch(() => undefined);
      await runProcess({
        command: "ssh",
        args: ["-o", `ControlPath=${optionValue(connection.controlPath)}`, "-O", "exit", "--", "ignored"],
        env: process.env,
        stdin: "",
        timeoutMs: 10_000,
        sinks: { stdout: () => undefined, stderr: () => undefined },
      });
    }),
  );
  removePrivateDirectory();
}

function closeSshConnectionsAtExit(): void {
  for (const connection of connections.values()) {
    spawnSync(
      "ssh",
      ["-o", `ControlPath=${optionValue(connection.controlPath)}`, "-O", "exit", "--", "ignored"],
      {
        stdio: "ignore",
        timeout: 5_000,
      },
    );
  }
  connections.clear();
  removePrivateDirectory();
}

function removePrivateDirectory(): void {
  if (privateDir === undefined) return;
  fs.rmSync(privateDir, { recursive: true, force: true });
  privateDir = undefined;
}

function privateDirectory(): string {
  if (privateDir === undefined) {
    // mkdtemp creates the directory 0700.
    privateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-ssh-"));
    if (!exitHookRegistered) {
      process.on("exit", closeSshConnectionsAtExit);
      exitHookRegistered = true;
    }
  }
  return privateDir;
}

async function connectionTo(target: SshTarget, ctx: StepContext): Promise<Connection> {
  // Keyed by everything that decides how we authenticate, so a different key or host-key policy never
  // rides on a master that was authenticated another way.
  const id = createHash("sha256")
    .update(
      JSON.stringify([
        target.user,
        target.host,
        target.port,
        target.privateKey ?? "",
        target.hostKeyPolicy,
        target.knownHostsFile ?? "",
      ]),
    )
    .digest("hex")
    .slice(0, 20);
  const existing = connections.get(id);
  if (existing) {
    await existing.ready;
    return existing;
  }
  const dir = privateDirectory();
  let keyFile: string | undefined;
  if (target.privateKey !== undefined) {
    keyFile = path.join(dir, `key-${id}`);
    writePrivateKeyFile(keyFile, target.privateKey);
  }
  const connection: Connection = {
    label: sshLabel(target),
    controlPath: path.join(dir, `cm-${id}`),
    keyFile,
    ready: Promise.resolve(),
  };
  connection.ready = openMaster(target, connection, ctx);
  connections.set(id, connection);
  try {
    await connection.ready;
  } catch (err) {
    if (connections.get(id) === connection) connections.delete(id);
    if (keyFile) fs.rmSync(keyFile, { force: true });
    throw err;
  }
  return connection;
}

async function openMaster(target: SshTarget, connection: Connection, ctx: StepContext): Promise<void> {
  let stderr = "";
  const started = Date.now();
  const connectTimeout = target.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS;
  // -f -N: authenticate, then leave a background master that holds the connection for ControlPersist.
  const outcome = await runProcess({
    command: "ssh",
    args: [...sshOptions(target, connection), "-f", "-N", "--", target.host],
    env: process.env,
    stdin: "",
    timeoutMs: (connectTimeout + REMOTE_TIMEOUT_SLACK_SECONDS) * 1000,
    signal: ctx.signal,
    sinks: {
      stdout: () => undefined,
      stderr: (chunk) => {
        stderr += chunk;
      },
    },
  });
  if (outcome.exitCode === 0) {
    ctx.log(
      `ssh connection to ${connection.label} open in ${((Date.now() - started) / 1000).toFixed(2)} s ` +
        `(shared by the following steps to this node)`,
    );
    return;
  }
  if (outcome.aborted) throw new StepError(`cancelled while connecting to ${connection.label}`);
  if (outcome.timedOut) {
    throw new StepError(
      `cannot reach ${connection.label}: no ssh connection within ${connectTimeout + REMOTE_TIMEOUT_SLACK_SECONDS} s. ` +
        `Check that the node is up and that sshd on port ${target.port} answers.`,
    );
  }
  throw new StepError(
    classifySshFailure(stderr, target) ??
      `ssh to ${connection.label} failed with exit code ${outcome.exitCode}: ${lastLines(stderr, 3) || "(no message)"}`,
  );
}

function sshOptions(target: SshTarget, connection: Connection): string[] {
  return [
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "ControlMaster=auto",
    "-o",
    `ControlPath=${optionValue(connection.controlPath)}`,
    "-o",
    `ControlPersist=${CONTROL_PERSIST}`,
    ...sshClientOptions(target, connection.keyFile),
  ];
}

/**
 * The client options every connection to `target` uses besides multiplexing: timeouts, the
 * host-key policy, the key file (`keyFile`, written with writePrivateKeyFile) and the login.
 * Callers add `-o BatchMode=yes` (or rely on a master that was opened with it).
 */
export function sshClientOptions(target: SshTarget, keyFile: string | undefined): string[] {
  const options: string[] = [
    "-o",
    `ConnectTimeout=${target.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS}`,
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
    // Keeps "Warning: Permanently added ..." out of the script's stderr; real errors still show.
    "-o",
    "LogLevel=ERROR",
  ];
  switch (target.hostKeyPolicy) {
    case "strict":
      options.push("-o", "StrictHostKeyChecking=yes");
      break;
    case "accept-new":
      options.push("-o", "StrictHostKeyChecking=accept-new");
      break;
    case "insecure":
      options.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
      break;
  }
  if (target.hostKeyPolicy !== "insecure" && target.knownHostsFile !== undefined) {
    options.push("-o", `UserKnownHostsFile=${optionValue(target.knownHostsFile)}`);
  }
  if (keyFile !== undefined) {
    options.push("-i", keyFile, "-o", "IdentitiesOnly=yes");
  }
  options.push("-p", String(target.port), "-l", target.user);
  return options;
}

/** Refuses a target whose host, user, port or key could be misread by the ssh client. */
export function validateTarget(target: SshTarget): void {
  const label = sshLabel(target);
  if (!/^[A-Za-z0-9._:[\]-]+$/.test(target.host) || target.host.startsWith("-")) {
    throw new StepError(`ssh target ${label}: host must be a hostname or IP address`);
  }
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(target.user)) {
    throw new StepError(`ssh target ${label}: user must be a plain login name`);
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new StepError(`ssh target ${label}: port must be an integer from 1 to 65535`);
  }
  if (target.privateKey !== undefined && !target.privateKey.includes("PRIVATE KEY")) {
    throw new StepError(`ssh target ${label}: privateKey does not look like an OpenSSH/PEM private key`);
  }
}

/** Writes a private key for `ssh -i`: a fresh 0600 file (its directory should be 0700 and private). */
export function writePrivateKeyFile(file: string, privateKey: string): void {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, {
    mode: 0o600,
    flag: "wx",
  });
}

/** A value for `ssh -o NAME=VALUE`, which ssh splits on whitespace unless double-quoted. */
function optionValue(value: string): string {
  if (value.includes('"')) throw new StepError(`ssh option value must not contain a double quote: ${value}`);
  return /\s/.test(value) ? `"${value}"` : value;
}

function lastLines(text: string, count: number): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^@+$/.test(line))
    .slice(-count)
    .join(" ");
}
