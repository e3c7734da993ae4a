/**
 * moto server (an AWS API emulator from PyPI) on a loopback port, for the ELBv2/RDS integration
 * tests and a shared state backend rehearsal. `scripts/setup-moto.sh` installs it into the cache dir.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findFreePort } from "./ports";

export interface RunningMoto {
  /** `http://127.0.0.1:P` */
  endpoint: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const PORT_ATTEMPTS = 3;

/** The same path scripts/setup-moto.sh installs to. */
export function motoVenvDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot =
    env.GRU_CACHE_DIR ||
    path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "glance-rolling-upgrade");
  return path.join(cacheRoot, "moto-venv");
}

function motoServerBinary(): string {
  const bin = path.join(motoVenvDir(), "bin", "moto_server");
  if (!fs.existsSync(bin)) {
    throw new Error(`moto server is not installed (no ${bin}): run "bash scripts/setup-moto.sh" first`);
  }
  return bin;
}

/** Keeps the last lines of the server's output for error messages, and drains the pipe. */
function outputTail(child: ChildProcess): () => string {
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 20));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return () => lines.join("\n") || "(no output)";
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(killTimer);
}

async function startOnPort(bin: string, port: number): Promise<RunningMoto | "port-taken"> {
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  const tail = outputTail(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(endpoint))) {
    if (spawnError) throw new Error(`could not start ${bin}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      if (/address already in use/i.test(tail())) return "port-taken";
      throw new Error(
        `moto server exited (code ${child.exitCode ?? child.signalCode}) before answering:\n${tail()}`,
      );
    }
    if (Date.now() >= deadline) {
      await stopChild(child, exited);
      throw new Error(
        `moto server did not answer on ${endpoint} within ${START_TIMEOUT_MS / 1000} s:\n${tail()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint, stop: () => stopChild(child, exited) };
}

export async function startMoto(opts: { port?: number } = {}): Promise<RunningMoto> {
  const bin = motoServerBinary();
  // A port picked by findFreePort can be taken before moto binds it: pick again, a few times.
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const port = opts.port ?? (await findFreePort());
    const started = await startOnPort(bin, port);
    if (started !== "port-taken") return started;
    if (opts.port !== undefined)
      throw new Error(`moto server could not listen on 127.0.0.1:${port}: port in use`);
  }
  throw new Error(`moto server found no free port in ${PORT_ATTEMPTS} attempts`);
}
