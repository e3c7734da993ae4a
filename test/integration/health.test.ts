import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../lab/services/ports";
import { spawn } from "node:child_process";
import { healthGateScript } from "../../steps/node/scripts";
import { waitHealthy } from "../../steps/health";
import { recordingContext, stepFailure } from "../support/stepHarness";

describe("waitHealthy", () => {
  let server: http.Server;
  let base: string;
  /** When /delayed starts answering 200. */
  let healthyAt = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/delayed") {
        res.writeHead(Date.now() >= healthyAt ? 200 : 503).end();
      } else if (req.url === "/always-503") {
        res.writeHead(503).end("disabled by file");
      } else if (req.url === "/hang") {
        // Never answers.
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("returns as soon as the URL turns 200", async () => {
    const ctx = recordingContext();
    healthyAt = Date.now() + 700;
    const { seconds } = await waitHealthy(
      { url: `${base}/delayed`, timeoutSeconds: 10, intervalMs: 100 },
      ctx,
    );
    expect(seconds).toBeGreaterThanOrEqual(0.6);
    expect(seconds).toBeLessThan(1.5);
    expect(ctx.lines).toContain(`${base}/delayed: HTTP 503`);
    expect(ctx.lines.at(-1)).toMatch(/healthy after \d+\.\d\d s/);
  });

  it("times out with the last status in the message", async () => {
    const started = Date.now();
    const err = await stepFailure(
      waitHealthy({ url: `${base}/always-503`, timeoutSeconds: 0.6 }, recordingContext()),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.message).toContain("timed out after 0.6 s");
    expect(err.message).toContain("last: HTTP 503");
  });

  it("reports a refused connection as the last error", async () => {
    const closedPort = await findFreePort();
    const err = await stepFailure(
      waitHealthy(
        { url: `http://127.0.0.1:${closedPort}/healthcheck`, timeoutSeconds: 0.5 },
        recordingContext(),
      ),
    );
    expect(err.message).toContain("last: ECONNREFUSED");
  });

  it("bounds a request that never answers by the overall timeout", async () => {
    const started = Date.now();
    const err = await stepFailure(
      waitHealthy({ url: `${base}/hang`, timeoutSeconds: 1 }, recordingContext()),
    );
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(err.message).toMatch(/last: no response within \d+ ms/);
  });

  it("stops when the caller cancels", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const err = await stepFailure(
      waitHealthy(
        { url: `${base}/always-503`, timeoutSeconds: 30 },
        { log: () => undefined, signal: controller.signal },
      ),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.message).toContain("cancelled");
  });
});

/** Runs the `command` executor's gate under bash as a start step would (after `set -euo pipefail`). */
function runGate(
  url: string,
  timeoutSeconds: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `set -euo pipefail\nexport GLANCE_NODE=node-1\n${healthGateScript(url, timeoutSeconds)}`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("the command executor's health gate, run by bash with curl (healthGateScript)", () => {
  let server: http.Server;
  let base: string;
  let healthyAt = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/delayed") res.writeHead(Date.now() >= healthyAt ? 200 : 503).end();
      else if (req.url === "/redirect") res.writeHead(302, { location: "/delayed" }).end();
      else res.writeHead(503).end("disabled by file");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("passes once the URL answers 200, and says after how long", async () => {
    healthyAt = Date.now() + 1_200;
    const gate = await runGate(`${base}/delayed`, 10);
    expect(gate.code).toBe(0);
    expect(gate.stdout.trim().split("\n").at(-1)).toMatch(/^node-1 healthy after [12] s$/);
  });

  it("fails after its timeout with the last answer, on a node that answers 503", async () => {
    const gate = await runGate(`${base}/always-503`, 1);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toContain(`${base}/always-503 never answered 200 within 1 s; last answer: 503`);
    expect(gate.stderr).toContain("Check the service's log on node-1");
  });

  it("does not count a redirect as healthy (the native gate wants 200 too)", async () => {
    healthyAt = 0;
    const gate = await runGate(`${base}/redirect`, 1);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toContain("last answer: 302");
  });

  it("fails on a node that does not listen, naming no answer", async () => {
    const closedPort = await findFreePort();
    const gate = await runGate(`http://127.0.0.1:${closedPort}/healthcheck`, 1);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toContain("last answer: 000");
  });
});
