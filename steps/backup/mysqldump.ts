import { ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StepContext, StepError } from "../context";
import { DbEndpoint, describeEndpoint, redactPassword } from "../db/connection";
import { unnamedSecretFile } from "../exec/keyInput";
import { trackChild } from "../exec/reaper";

/** A dump that has not finished by then is stopped (backup.timeoutSeconds, when the stack sets it). */
export const DEFAULT_DUMP_TIMEOUT_SECONDS = 1800;
/** mysqldump reads its option file from stdin: a nameless file (unnamedSecretFile). */
const OPTIONS_FROM_STDIN = "/dev/stdin";

export interface BackupResult {
  path: string;
  bytes: number;
  sha256: string;
  seconds: number;
}

/** mysqldump writes this trailer last (comments are on by default): without it the dump was cut short. */
const COMPLETION_TRAILER = "-- Dump completed";
const MIN_DUMP_BYTES = 200;
const TAIL_BYTES = 512;
const MAX_STDERR_CHARS = 4_000;

/** Debian's MariaDB client ships both names; newer MariaDB packages may drop the mysqldump alias. */
const DUMP_BINARIES = ["mysqldump", "mariadb-dump"];

function findDumpBinary(): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of DUMP_BINARIES) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not in this directory
      }
    }
  }
  throw new StepError(
    `neither mysqldump nor mariadb-dump is on PATH: install the MariaDB or MySQL client ` +
      `(Debian: apt-get install mariadb-client) on the machine that runs the upgrade`,
  );
}

/** A value for a MySQL option file: quoted, with the escapes its parser understands. */
function optionValue(value: string): string {
  const escaped = value
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t");
  return `"${escaped}"`;
}

/**
 * The password travels in this file (mode 0600, in a private temp dir), never in argv. It is the
 * only option file the dump tool reads (--defaults-file), so a ~/.my.cnf or /etc/mysql [client] or
 * [mysqldump] section cannot move the backup to another server, port or user.
 */
export function clientOptionFile(db: DbEndpoint): string {
  return ["[client]", `password=${optionValue(db.password)}`, ""].join("\n");
}

/** TLS that verifies the server (its CA and its name), in the dialect of the dump tool at hand. */
export function tlsArguments(flavour: "mariadb" | "mysql", caFile?: string): string[] {
  const ca = caFile === undefined ? [] : [`--ssl-ca=${caFile}`];
  return flavour === "mariadb"
    ? ["--ssl", ...ca, "--ssl-verify-server-cert"]
    : ["--ssl-mode=VERIFY_IDENTITY", ...ca];
}

function flavourOf(binary: string): "mariadb" | "mysql" {
  const version = spawnSync(binary, ["--version"], { encoding: "utf8" }).stdout ?? "";
  return /mariadb/i.test(version) ? "mariadb" : "mysql";
}

/**
 * The whole argv: nothing secret in it (the option file carries the password). The target is on the
 * command line, which outranks every option file, MySQL's ~/.mylogin.cnf included (read even with
 * --defaults-file).
 */
export function mysqldumpArguments(optionFilePath: string, db: DbEndpoint, tls: string[] = []): string[] {
  return [
    // Must come first: mysqldump only honours --defaults-file as its first argument.
    `--defaults-file=${optionFilePath}`,
    `--host=${db.host}`,
    `--port=${db.port}`,
    `--user=${db.user}`,
    "--protocol=TCP",
    ...tls,
    "--single-transaction",
    "--routines",
    "--triggers",
    // MySQL >= 8.0.21 needs PROCESS to dump tablespaces; Glance has none of its own.
    "--no-tablespaces",
    "--databases",
    db.database,
  ];
}

/** Counts, hashes and remembers the tail of what passes through. */
class DumpDigest extends Transform {
  bytes = 0;
  private readonly hash = createHash("sha256");
  private tail = Buffer.alloc(0);

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null, data?: Buffer) => void,
  ) {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    const joined = Buffer.concat([this.tail, chunk]);
    this.tail = joined.subarray(Math.max(0, joined.length - TAIL_BYTES));
    done(null, chunk);
  }

  sha256(): string {
    return this.hash.digest("hex");
  }

  tailText(): string {
    return this.tail.toString("utf8");
  }
}

async function syncFile(filePath: string): Promise<void> {
  const handle = await fs.promises.open(filePath, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function mysqldumpBackup(
  args: { db: DbEndpoint; path: string; timeoutSeconds?: number },
  ctx: StepContext,
): Promise<BackupResult> {
  const { db } = args;
  const target = path.resolve(args.path);
  const partial = `${target}.partial`;
  const binary = findDumpBinary();
  const started = Date.now();
  const failure = (what: string): StepError =>
    new StepError(
      `backup of database '${db.database}' at ${db.host}:${db.port} as user '${db.user}' failed: ` +
        `${redactPassword(what, db.password)}; no backup was written to ${target}`,
    );

  const timeoutSeconds = args.timeoutSeconds ?? DEFAULT_DUMP_TIMEOUT_SECONDS;
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await fs.promises.rm(partial, { force: true });
  const privateDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "glance-mysqldump-"));
  // The password reaches mysqldump in a nameless file on its stdin (exec/keyInput.ts): no option
  // file is left on disk if this process is killed.
  const optionFd = unnamedSecretFile(clientOptionFile(db), privateDir);
  try {
    const argv = mysqldumpArguments(
      OPTIONS_FROM_STDIN,
      db,
      db.ssl ? tlsArguments(flavourOf(binary), db.caFile) : [],
    );
    ctx.log(`backing up ${describeEndpoint(db)} with mysqldump to ${target} (limit ${timeoutSeconds} s)`);

    const child = spawn(binary, argv, { stdio: [optionFd, "pipe", "pipe"] }) as ChildProcessByStdio<
      null,
      Readable,
      Readable
    >;
    const untrack = child.pid === undefined ? () => undefined : trackChild(child.pid, "process");
    child.once("close", untrack);
    let timedOut = false;
    const onAbort = () => child.kill("SIGTERM");
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, timeoutSeconds * 1000);
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += text;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once("error", (error) => resolve({ code: null, signal: null, error }));
        child.once("close", (code, signal) => resolve({ code, signal }));
      },
    );

    const digest = new DumpDigest();
    try {
      const written = pipeline(child.stdout, digest, fs.createWriteStream(partial, { mode: 0o600 }));
      const [outcome, copied] = await Promise.all([
        exited,
        written.then(
          () => undefined,
          (err: Error) => err,
        ),
      ]);
      const stderrText = stderr.trim();
      if (outcome.error) throw failure(`could not run ${binary}: ${outcome.error.message}`);
      if (timedOut) {
        throw failure(
          `mysqldump did not finish within ${timeoutSeconds} s and was stopped; a lock held on a table ` +
            `(SHOW PROCESSLIST on the server) or a slow link may hold it: clear that and rerun, or raise ` +
            `backup.timeoutSeconds in the stack config for a database this large`,
        );
      }
      if (outcome.code !== 0) {
        const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
        throw failure(
          `mysqldump ${how}: ${stderrText || "(no error output)"}; check that the server is reachable on ` +
            `${db.host}:${db.port} and that '${db.user}' may read database '${db.database}' (SELECT, SHOW VIEW, TRIGGER, LOCK TABLES)`,
        );
      }
      if (copied) throw failure(`could not write ${partial}: ${copied.message}`);
      if (digest.bytes < MIN_DUMP_BYTES || !digest.tailText().includes(COMPLETION_TRAILER)) {
        throw failure(
          `mysqldump exited 0 but its output (${digest.bytes} bytes) is empty or lacks the "${COMPLETION_TRAILER}" ` +
            `trailer, so it cannot be trusted` +
            (stderrText ? `; mysqldump said: ${stderrText}` : ""),
        );
      }
      await syncFile(partial);
      await fs.promises.rename(partial, target);
    } catch (err) {
      child.kill("SIGKILL");
      await fs.promises.rm(partial, { force: true });
      throw err;
    } finally {
      clearTimeout(timer);
      ctx.signal?.removeEventListener("abort", onAbort);
    }

    const result: BackupResult = {
      path: target,
      bytes: digest.bytes,
      sha256: digest.sha256(),
      seconds: (Date.now() - started) / 1000,
    };
    ctx.log(
      `backup written: ${target} (${result.bytes} bytes, sha256 ${result.sha256}, ${result.seconds.toFixed(2)} s)`,
    );
    return result;
  } finally {
    fs.closeSync(optionFd);
    await fs.promises.rm(privateDir, { recursive: true, force: true });
  }
}
