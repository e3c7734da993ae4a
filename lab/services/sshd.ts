/**
 * A real OpenSSH server on loopback for the integration tests and the local lab: its own host key,
 * one authorized client key, everything (config, keys, pid file) in a caller-owned directory.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { findFreePort } from "./ports";

export interface StartSshdOptions {
  /** Where the keys, sshd_config, authorized_keys and known_hosts go. */
  dir: string;
  /** 0 or absent: pick a free port. */
  port?: number;
  /** How long to wait for the port to answer; default 10 s. */
  startTimeoutMs?: number;
  /**
   * Loopback addresses to listen on (default 127.0.0.1): a lab fleet reaches one sshd as distinct
   * hosts 127.0.0.1, 127.0.0.2, ... so every node keeps its own address.
   */
  listenAddresses?: string[];
}

export interface RunningSshd {
  host: "127.0.0.1";
  port: number;
  /** The login user: root when the tests run as root, else the current user (sshd can only log that one in). */
  user: string;
  /** OpenSSH PEM of the authorized ed25519 client key (a secret). */
  privateKey: string;
  /** A known_hosts file holding this sshd's host key for [127.0.0.1]:port. */
  knownHostsFile: string;
  /** `ssh-ed25519 AAAA...` */
  hostPublicKey: string;
  /** What sshd logged so far (-e: its log goes to stderr), e.g. to count "Accepted publickey" lines. */
  log(): string;
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";
const SSH_KEYGEN = "ssh-keygen";

export async function startSshd(opts: StartSshdOptions): Promise<RunningSshd> {
  if (!fs.existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install openssh-server (apt-get install -y openssh-server)`);
  }
  fs.mkdirSync(opts.dir, { recursive: true });
  const dir = fs.realpathSync(opts.dir);
  const port = opts.port && opts.port > 0 ? opts.port : await findFreePort();
  const user = os.userInfo().username;

  const hostKeyPath = path.join(dir, "ssh_host_ed25519_key");
  const clientKeyPath = path.join(dir, "client_ed25519");
  generateKey(hostKeyPath, "lab sshd host key");
  generateKey(clientKeyPath, "lab client key");
  const hostPublicKey = publicKeyOf(hostKeyPath);
  const authorizedKeysFile = path.join(dir, "authorized_keys");
  fs.writeFileSync(authorizedKeysFile, `${publicKeyOf(clientKeyPath)}\n`, { mode: 0o600 });
  const knownHostsFile = path.join(dir, "known_hosts");
  const listenAddresses = opts.listenAddresses ?? ["127.0.0.1"];
  if (listenAddresses.some((a) => !a.startsWith("127.")))
    throw new Error("the lab sshd listens on loopback only");
  fs.writeFileSync(knownHostsFile, listenAddresses.map((a) => `[${a}]:${port} ${hostPublicKey}\n`).join(""), {
    mode: 0o600,
  });

  const configPath = path.join(dir, "sshd_config");
  fs.writeFileSync(
    configPath,
    sshdConfig({
      port,
      hostKeyPath,
      authorizedKeysFile,
      pidFile: path.join(dir, "sshd.pid"),
      listenAddresses,
    }),
    { mode: 0o600 },
  );
  ensurePrivilegeSeparationDir();

  const child = spawn(SSHD, ["-D", "-e", "-f", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  let logText = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    logText += chunk;
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
  });
  child.once("error", (err) => {
    logText += `spawn error: ${err.message}\n`;
  });

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  while (!(await answersWithSshBanner(port))) {
    if (exited || Date.now() >= deadline) {
      child.kill("SIGKILL");
      throw new Error(
        `sshd on 127.0.0.1:${port} did not start (${exited ? `exited with ${child.exitCode}` : "no answer"}):\n${logText}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    host: "127.0.0.1",
    port,
    user,
    privateKey: fs.readFileSync(clientKeyPath, "utf8"),
    knownHostsFile,
    hostPublicKey,
    log: () => logText,
    stop: async () => {
      if (exited) return;
      // Each connection is a child sshd in its own session (setsid), out of reach of a group kill.
      const connections = child.pid === undefined ? [] : childrenOf(child.pid);
      child.kill("SIGTERM");
      for (const pid of connections) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // Already gone.
        }
      }
      await exitedPromise;
    },
  };
}

export function sshdConfig(opts: {
  port: number;
  hostKeyPath: string;
  authorizedKeysFile: string;
  pidFile: string;
  listenAddresses?: string[];
}): string {
  return `${(opts.listenAddresses ?? ["127.0.0.1"]).map((a) => `ListenAddress ${a}`).join("\n")}
Port ${opts.port}
HostKey ${opts.hostKeyPath}
AuthorizedKeysFile ${opts.authorizedKeysFile}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PidFile ${opts.pidFile}
LogLevel INFO
`;
}

function generateKey(keyPath: string, comment: string): void {
  fs.rmSync(keyPath, { force: true });
  fs.rmSync(`${keyPath}.pub`, { force: true });
  const result = spawnSync(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", keyPath], {
    encoding: "utf8",
  });
  if (result.error) {
    throw new Error(`cannot run ${SSH_KEYGEN} (install openssh-client): ${result.error.message}`);
  }
  if (result.status !== 0) throw new Error(`${SSH_KEYGEN} failed for ${keyPath}: ${result.stderr}`);
}

function publicKeyOf(keyPath: string): string {
  const [type, blob] = fs.readFileSync(`${keyPath}.pub`, "utf8").trim().split(/\s+/);
  return `${type} ${blob}`;
}

/** sshd refuses to start without its privilege-separation directory; Debian creates it only at boot. */
function ensurePrivilegeSeparationDir(): void {
  try {
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  } catch {
    // Not root: sshd then runs without privilege separation and does not need it.
  }
}

function childrenOf(parentPid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parentPid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

function answersWithSshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("data", (data) => finish(data.toString("latin1").startsWith("SSH-")));
  });
}
