/**
 * The system OpenSSH client as every ssh user here calls it: a target's label, its client options
 * (timeouts, host-key policy, key file, login), the checks that keep a target from being misread as
 * an option, and the operator-facing reading of the client's own errors.
 */
import { StepError } from "../context";
import type { SshTarget } from "./types";

export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;

export function sshLabel(target: SshTarget): string {
  return `${target.user}@${target.host}:${target.port}`;
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

/**
 * The client options every connection to `target` uses besides multiplexing: timeouts, the
 * host-key policy, the key (`keyFile`: KEY_FROM_STDIN with a keyInput.ts descriptor as stdin) and
 * the login.
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

/** A value for `ssh -o NAME=VALUE`, which ssh splits on whitespace unless double-quoted. */
export function optionValue(value: string): string {
  if (value.includes('"')) throw new StepError(`ssh option value must not contain a double quote: ${value}`);
  return /\s/.test(value) ? `"${value}"` : value;
}

export function lastLines(text: string, count: number): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^@+$/.test(line))
    .slice(-count)
    .join(" ");
}
