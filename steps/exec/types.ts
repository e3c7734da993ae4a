/** How the OpenSSH client treats the node's host key: `StrictHostKeyChecking=yes|accept-new|no`. */
export type HostKeyPolicy = "strict" | "accept-new" | "insecure";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** OpenSSH/PEM private key (a secret); absent: the ssh client's own keys and agent. */
  privateKey?: string;
  hostKeyPolicy: HostKeyPolicy;
  /** Absent: the ssh client's default (~/.ssh/known_hosts). Ignored when the policy is insecure. */
  knownHostsFile?: string;
  /** Default 10. */
  connectTimeoutSeconds?: number;
}

export interface ScriptRun {
  /** The exact shell script (bash) to run; contains no secrets. */
  script: string;
  /**
   * Secret values: local runs get them as environment variables; ssh runs get them on stdin as
   * `export NAME=<quoted>` lines ahead of the script (sshd drops client env). Redacted from every
   * logged line and from the returned output.
   */
  secrets?: Record<string, string>;
  /** Non-secret environment (over ssh: also `export` lines on stdin). */
  env?: Record<string, string>;
  transport: "local" | "ssh";
  /** Required when transport is ssh. */
  ssh?: SshTarget;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: number[];
  /** Absent: no limit. */
  timeoutSeconds?: number;
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Where a runner sends output as it arrives (raw chunks; the caller splits lines and redacts). */
export interface OutputSinks {
  stdout(chunk: string): void;
  stderr(chunk: string): void;
}

/** How a script's process ended, before any judgement about success. */
export interface ProcessOutcome {
  /** null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Killed because timeoutSeconds passed. */
  timedOut: boolean;
  /** Killed because the caller's AbortSignal fired. */
  aborted: boolean;
}
