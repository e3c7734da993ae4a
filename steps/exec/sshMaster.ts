/**
 * One multiplexed OpenSSH connection per node: the first step to a node opens a control master, every
 * later step rides on it. Control sockets and key files (0600) live in a 0700 directory of this
 * process, removed when the connections close or the process exits.
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
  writePrivateKeyFile,
} from "./ssh";
import type { SshTarget } from "./types";

const CONTROL_PERSIST = "60s";
/** How long after the local timeout the remote `timeout` gets to report before we kill the client. */
export const REMOTE_TIMEOUT_SLACK_SECONDS = 10;

export interface Connection {
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

export function sshOptions(target: SshTarget, connection: Connection): string[] {
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
