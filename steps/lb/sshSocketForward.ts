/**
 * Reaches a unix socket on another host through the OpenSSH client: `ssh -N -L local.sock:remote.sock`
 * forwards it to a private local socket, so HAProxy's admin socket is never opened to the network.
 * The key reaches ssh as a nameless file on its stdin (exec/keyInput.ts); nothing secret is in an argv.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StepContext, StepError } from "../context";
import { KEY_FROM_STDIN, unnamedSecretFile } from "../exec/keyInput";
import { trackChild } from "../exec/reaper";
import { classifySshFailure, sshClientOptions, validateTarget } from "../exec/ssh";
import type { SshTarget } from "../exec/types";
import { forwardLabel } from "./haproxy/endpoint";

export { forwardLabel };

export interface SocketForward {
  /** `unix:<private local socket>`: what a client connects to. */
  localApi: string;
  /**
   * What the ssh client says went wrong: it exited, or it could not open the remote socket for a
   * connection. Undefined while nothing went wrong; read it to explain a failed runtime API call.
   */
  explainFailure(): string | undefined;
  /** Stops the ssh client and removes the local socket and the key file. */
  close(): Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
const CONNECT_SLACK_SECONDS = 5;
const POLL_MS = 50;
const STOP_GRACE_MS = 3_000;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

function lastLines(text: string, count: number): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .slice(-count)
    .join(" ");
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Opens the forward and returns once the local socket listens (which the client does only after
 * authenticating); an ssh failure comes back as the executor's operator-facing message.
 */
export async function openSocketForward(
  target: SshTarget,
  remoteSocket: string,
  ctx: StepContext,
): Promise<SocketForward> {
  validateTarget(target);
  if (!/^\/[A-Za-z0-9._/-]+$/.test(remoteSocket)) {
    throw new StepError(`remote socket "${remoteSocket}" must be an absolute path without spaces or ':'`);
  }
  const label = forwardLabel(target, remoteSocket);
  // mkdtemp creates the directory 0700.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-fwd-"));
  const localSocket = path.join(dir, "api.sock");
  if (Buffer.byteLength(localSocket) > MAX_UNIX_SOCKET_PATH) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new StepError(
      `the local socket path ${localSocket} is too long: set TMPDIR to a shorter directory`,
    );
  }
  // The key as a nameless file on ssh's stdin (keyInput.ts): no key file to leave behind.
  const keyFd = target.privateKey === undefined ? undefined : unnamedSecretFile(target.privateKey, dir);

  const child = spawn(
    "ssh",
    [
      "-N",
      "-o",
      "BatchMode=yes",
      "-o",
      "ExitOnForwardFailure=yes",
      "-o",
      "StreamLocalBindUnlink=yes",
      ...sshClientOptions(target, keyFd === undefined ? undefined : KEY_FROM_STDIN),
      "-L",
      `${localSocket}:${remoteSocket}`,
      "--",
      target.host,
    ],
    { stdio: [keyFd ?? "ignore", "ignore", "pipe"] },
  );
  if (keyFd !== undefined) fs.closeSync(keyFd);
  // The forward dies with this process, whatever ends it (exec/reaper.ts).
  const untrack = child.pid === undefined ? () => undefined : trackChild(child.pid, "process");
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  let spawnError: string | undefined;
  child.once("error", (err) => {
    spawnError = err.message;
  });
  const childExited = new Promise<void>((resolve) =>
    child.once("close", () => {
      untrack();
      resolve();
    }),
  );
  // A run that dies without close() must not leave the ssh client behind.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    process.removeListener("exit", killOnExit);
    if (!exited(child) && spawnError === undefined) {
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await childExited;
      clearTimeout(killTimer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const failure = (): string =>
    spawnError !== undefined
      ? `cannot run the OpenSSH client (install openssh-client): ${spawnError}`
      : (classifySshFailure(stderr, target) ??
        `the ssh forward to ${label} ended (exit ${child.exitCode ?? child.signalCode}): ${lastLines(stderr, 3) || "(no message)"}`);

  const connectSeconds =
    (target.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) + CONNECT_SLACK_SECONDS;
  const deadline = Date.now() + connectSeconds * 1000;
  const started = Date.now();
  while (!fs.existsSync(localSocket)) {
    if (exited(child) || spawnError !== undefined) {
      await childExited.catch(() => undefined);
      const why = failure();
      await close();
      throw new StepError(`cannot forward HAProxy's runtime API ${label}: ${why}`);
    }
    if (ctx.signal?.aborted || Date.now() >= deadline) {
      await close();
      throw new StepError(
        ctx.signal?.aborted
          ? `cancelled while forwarding ${label}`
          : `cannot forward HAProxy's runtime API ${label}: no ssh connection within ${connectSeconds} s ` +
              `(${lastLines(stderr, 2) || "no message"}); check that the host is up and sshd answers on port ${target.port}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  ctx.log(
    `HAProxy runtime API ${label} forwarded over ssh in ${((Date.now() - started) / 1000).toFixed(2)} s`,
  );
  return {
    localApi: `unix:${localSocket}`,
    explainFailure: () => (exited(child) || spawnError !== undefined ? failure() : channelFailure(stderr)),
    close,
  };
}

/** The ssh client's own word on a forwarded connection it could not open (e.g. no such remote socket). */
function channelFailure(stderr: string): string | undefined {
  const line = stderr
    .split("\n")
    .reverse()
    .find((l) => /open failed|connect failed/.test(l));
  return line === undefined ? undefined : `the ssh server could not open the remote socket (${line.trim()})`;
}
