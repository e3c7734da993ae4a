/**
 * One multiplexed OpenSSH connection per node: the first step to a node opens a control master, every
 * later step rides on it. Only the master authenticates, with the key read from a nameless file
 * (keyInput.ts): no key file exists on disk, so none outlives this process, however it ends. A
 * master that ended (ControlPersist after 60 s idle, a lost connection) is opened again before the
 * next step; the steps themselves never hold the key. Control sockets live in a 0700 directory named
 * after this process, removed when the connections close or the process exits, or by the next
 * process to open one once this one is gone.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StepError, type StepContext } from "../context";
import { runProcess } from "./local";
import {
  classifySshFailure,
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  lastLines,
  optionValue,
  sshClientOptions,
  sshLabel,
} from "./ssh";
import { KEY_FROM_STDIN, unnamedSecretFile } from "./keyInput";
import type { SshTarget } from "./types";

const CONTROL_PERSIST_SECONDS = 60;
/** A master idle this long is replaced rather than trusted: it could end while the next step starts. */
const REOPEN_AFTER_IDLE_MS = (CONTROL_PERSIST_SECONDS - 15) * 1000;
const DIR_PREFIX = "gru-ssh-";
/** How long after the local timeout the remote `timeout` gets to report before we kill the client. */
export const REMOTE_TIMEOUT_SLACK_SECONDS = 10;

export interface Connection {
  /** `user@host:port`, for messages. */
  label: string;
  controlPath: string;
  /** The key as a nameless file (keyInput.ts), read by each master this connection opens. */
  keyFd?: number;
  /** Settles once the control master is up (or failed to come up). */
  ready: Promise<void>;
  /** Steps running on it now, and since when none has. */
  inUse: number;
  idleSince: number;
}

const connections = new Map<string, Connection>();
let privateDir: string | undefined;
let exitHookRegistered = false;

/** The directory holding control sockets and key files; undefined until the first ssh step. */
export function sshPrivateDirectory(): string | undefined {
  return privateDir;
}

/** Closes every control master this process opened and removes the key files. */
export async function closeSshConnections(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  await Promise.all(
    open.map(async (connection) => {
      await connection.ready.catch(() => undefined);
      closeKey(connection);
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

function closeKey(connection: Connection): void {
  if (connection.keyFd === undefined) return;
  fs.closeSync(connection.keyFd);
  connection.keyFd = undefined;
}

function removePrivateDirectory(): void {
  if (privateDir === undefined) return;
  fs.rmSync(privateDir, { recursive: true, force: true });
  privateDir = undefined;
}

function privateDirectory(): string {
  if (privateDir === undefined) {
    sweepDeadDirectories();
    // mkdtemp creates the directory 0700.
    privateDir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    if (!exitHookRegistered) {
      process.on("exit", closeSshConnectionsAtExit);
      exitHookRegistered = true;
    }
  }
  return privateDir;
}

/** Removes the directories of processes that are gone (killed before their exit hook ran). */
function sweepDeadDirectories(): void {
  let names: string[];
  try {
    names = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^gru-ssh-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Runs `use` on the node's connection; the master is not replaced while a step uses it. */
export async function withConnection<T>(
  target: SshTarget,
  ctx: StepContext,
  use: (connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await connectionTo(target, ctx);
  connection.inUse++;
  try {
    return await use(connection);
  } finally {
    connection.inUse--;
    connection.idleSince = Date.now();
  }
}

export async function connectionTo(target: SshTarget, ctx: StepContext): Promise<Connection> {
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
    if (
      existing.inUse > 0 ||
      (Date.now() - existing.idleSince < REOPEN_AFTER_IDLE_MS && (await isUp(existing)))
    )
      return existing;
    await exitMaster(existing);
    return open(existing, target, id, ctx);
  }
  const dir = privateDirectory();
  const connection: Connection = {
    label: sshLabel(target),
    controlPath: path.join(dir, `cm-${id}`),
    keyFd: target.privateKey === undefined ? undefined : unnamedSecretFile(target.privateKey, dir),
    ready: Promise.resolve(),
    inUse: 0,
    idleSince: Date.now(),
  };
  connections.set(id, connection);
  return open(connection, target, id, ctx);
}

async function open(
  connection: Connection,
  target: SshTarget,
  id: string,
  ctx: StepContext,
): Promise<Connection> {
  connection.ready = openMaster(target, connection, ctx);
  try {
    await connection.ready;
  } catch (err) {
    if (connections.get(id) === connection) connections.delete(id);
    closeKey(connection);
    throw err;
  }
  connection.idleSince = Date.now();
  return connection;
}

function controlCommand(connection: Connection, command: "check" | "exit") {
  return runProcess({
    command: "ssh",
    args: ["-o", `ControlPath=${optionValue(connection.controlPath)}`, "-O", command, "--", "ignored"],
    env: process.env,
    stdin: "",
    timeoutMs: 10_000,
    sinks: { stdout: () => undefined, stderr: () => undefined },
  });
}

async function isUp(connection: Connection): Promise<boolean> {
  return (await controlCommand(connection, "check")).exitCode === 0;
}

async function exitMaster(connection: Connection): Promise<void> {
  await controlCommand(connection, "exit");
}

async function openMaster(target: SshTarget, connection: Connection, ctx: StepContext): Promise<void> {
  let stderr = "";
  const started = Date.now();
  const connectTimeout = target.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS;
  // -f -N: authenticate, then leave a background master that holds the connection for ControlPersist.
  const outcome = await runProcess({
    command: "ssh",
    args: [...masterOptions(target, connection), "-f", "-N", "--", target.host],
    env: process.env,
    stdin: connection.keyFd === undefined ? "" : { fd: connection.keyFd },
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
  if (outcome.aborted)
    throw new StepError(`cancelled while connecting to ${connection.label}`, undefined, "Cancelled");
  if (outcome.timedOut) {
    throw new StepError(
      `cannot reach ${connection.label}: no ssh connection within ${connectTimeout + REMOTE_TIMEOUT_SLACK_SECONDS} s. ` +
        `Check that the node is up and that sshd on port ${target.port} answers.`,
      undefined,
      "SshFailed",
    );
  }
  throw new StepError(
    classifySshFailure(stderr, target) ??
      `ssh to ${connection.label} failed with exit code ${outcome.exitCode}: ${lastLines(stderr, 3) || "(no message)"}`,
    undefined,
    "SshFailed",
  );
}

function masterOptions(target: SshTarget, connection: Connection): string[] {
  return [
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "ControlMaster=auto",
    "-o",
    `ControlPath=${optionValue(connection.controlPath)}`,
    "-o",
    `ControlPersist=${CONTROL_PERSIST_SECONDS}s`,
    ...sshClientOptions(target, connection.keyFd === undefined ? undefined : KEY_FROM_STDIN),
  ];
}

/** A step's options: it rides the master (withConnection keeps one up) and never holds the key. */
export function sshOptions(target: SshTarget, connection: Connection): string[] {
  return [
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "ControlMaster=no",
    "-o",
    `ControlPath=${optionValue(connection.controlPath)}`,
    ...sshClientOptions(target, undefined),
    ...(connection.keyFd === undefined ? [] : ["-o", "IdentitiesOnly=yes"]),
  ];
}
