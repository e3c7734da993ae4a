/**
 * Node control: `<dir>/bin/glance-node` (a copy of lab/bin/glance-node), the same command the
 * rolling upgrade's per-node steps run, and the wait for a node's /healthcheck.
 */
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { pollUntil } from "../steps/context";
import { POLL_MS } from "./processes";
import type { LabNode } from "./state";

const NODE_HEALTH_TIMEOUT_MS = 60_000;

export interface GlanceNodeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `<dir>/bin/glance-node <dir> <args...>` and returns its exit code and output. */
export function runGlanceNode(dir: string, args: string[], timeoutMs = 120_000): Promise<GlanceNodeResult> {
  const bin = path.join(dir, "bin", "glance-node");
  return new Promise((resolve) => {
    execFile(bin, [dir, ...args], { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({
        code,
        stdout,
        stderr: err !== null && typeof err.code !== "number" ? `${stderr}${err.message}` : stderr,
      });
    });
  });
}

export async function glanceNodeOrThrow(dir: string, args: string[]): Promise<string> {
  const result = await runGlanceNode(dir, args);
  if (result.code !== 0) {
    throw new Error(`glance-node ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

/** The status a URL answers with (2 s bound, a fresh connection), or 0 when it does not answer. */
export function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

/** Polls a node's /healthcheck until it answers 200; returns the milliseconds it took. */
export async function waitNodeHealthy(node: LabNode, timeoutMs = NODE_HEALTH_TIMEOUT_MS): Promise<number> {
  const started = Date.now();
  await pollUntil(async () => ((await httpStatus(node.healthUrl)) === 200 ? true : undefined), {
    timeoutMs,
    intervalMs: POLL_MS,
    describe: () =>
      `${node.name} to answer 200 on ${node.healthUrl} (log: ${path.join(node.dir, "glance-api.log")})`,
  });
  return Date.now() - started;
}
