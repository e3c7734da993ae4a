/**
 * The preflight against real services: MariaDB with binary logging, HAProxy with health checks, and
 * two small HTTP nodes. Every failing check names what to fix, all problems come in one error, and
 * nothing is changed.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunningMariadb, startMariadb } from "../../lab/services/mariadb";
import { RunningHaproxy, startHaproxy } from "../../lab/services/haproxy";
import { findFreePort } from "../../lab/services/ports";
import { runPreflight } from "../../steps/preflight";
import { readBackendServers } from "../../steps/lb/haproxyRuntime";
import { readTrustFunctionCreators } from "../../steps/db/privileges";
import type { PreflightRequest, StepSecrets } from "../../steps/protocol";

const passwords = { glance: "glance-pw-preflight", admin: "admin-pw-preflight" };

interface Node {
  name: string;
  port: number;
  healthy: boolean;
  server: http.Server;
}

async function startNode(name: string): Promise<Node> {
  const port = await findFreePort();
  const node: Node = { name, port, healthy: true, server: http.createServer() };
  node.server.on("request", (_req, res) => {
    res.writeHead(node.healthy ? 200 : 503).end(node.healthy ? "OK" : "disabled");
  });
  await new Promise<void>((resolve) => node.server.listen(port, "127.0.0.1", resolve));
  return node;
}

describe("preflight (real MariaDB, HAProxy and nodes)", () => {
  let tmp: string;
  let db: RunningMariadb;
  let lb: RunningHaproxy;
  let nodes: Node[];
  const messages: string[] = [];
  const ctx = { log: (m: string) => messages.push(m) };

  const request = (overrides: Partial<PreflightRequest> = {}): PreflightRequest => ({
    db: { host: "127.0.0.1", port: db.port, user: "glance", database: "glance" },
    adminUser: "admin",
    lb: {
      type: "haproxy",
      runtimeApis: [lb.runtimeApi],
      backend: lb.backendName,
      expected: nodes.map((n) => n.name),
    },
    nodes: nodes.map((n) => ({
      name: n.name,
      healthUrl: `http://127.0.0.1:${n.port}/healthcheck`,
      version: { transport: "local", script: "echo 27.1.1" },
    })),
    target: { release: "2024.1", version: "28.2.0" },
    ...overrides,
  });
  const secrets: StepSecrets = { dbPassword: passwords.glance, dbAdminPassword: passwords.admin };

  // What the preflight could change: a server's admin state (MAINT/DRAIN) and the MySQL setting;
  // health status is HAProxy's own observation and may move on its own.
  const snapshot = async () => ({
    servers: (await readBackendServers(lb.runtimeApi, lb.backendName)).map(
      (s) => `${s.server}:${/^(MAINT|DRAIN)/.test(s.status) ? s.status : "in rotation"}`,
    ),
    trust: await readTrustFunctionCreators({ ...db.rootEndpoint("glance") }),
  });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-preflight-"));
    db = await startMariadb({ dir: path.join(tmp, "db") });
    await db.createDatabase("glance");
    await db.createUser("glance", passwords.glance, "ALL ON glance.*");
    await db.createUser("admin", passwords.admin, "ALL PRIVILEGES ON *.*");
    nodes = [await startNode("node-1"), await startNode("node-2")];
    lb = await startHaproxy({
      dir: path.join(tmp, "lb"),
      backends: nodes.map((n) => ({ name: n.name, address: `127.0.0.1:${n.port}` })),
      checkIntervalMs: 200,
    });
  });

  afterAll(async () => {
    await lb?.stop();
    await db?.stop();
    for (const node of nodes ?? []) node.server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("passes on a sound fleet and reports what it found", async () => {
    const result = await runPreflight(request(), secrets, ctx);
    expect(result).toMatchObject({
      binlogEnabled: true,
      trustFunctionCreators: false,
      glanceHasSuper: false,
    });
    expect(JSON.parse(String(result.versionsBefore))).toEqual({ "node-1": "27.1.1", "node-2": "27.1.1" });
  });

  it.each([
    {
      what: "the database is unreachable",
      change: () => ({ db: { host: "127.0.0.1", port: 1, user: "glance", database: "glance" } }),
      expected: ["database:", "127.0.0.1:1"],
    },
    {
      what: "binary logging needs the setting and no admin credential is configured",
      change: () => ({ adminUser: undefined }),
      expected: ["log_bin_trust_function_creators", "adminUser"],
    },
    {
      what: "a node is not in the load balancer",
      change: () => ({
        lb: {
          type: "haproxy" as const,
          runtimeApis: [lb.runtimeApi],
          backend: lb.backendName,
          expected: ["node-1", "node-2", "node-3"],
        },
      }),
      expected: ["load balancer:", "node-3"],
    },
    {
      what: "the load balancer holds a server outside the fleet",
      change: () => ({
        lb: {
          type: "haproxy" as const,
          runtimeApis: [lb.runtimeApi],
          backend: lb.backendName,
          expected: ["node-1"],
        },
      }),
      expected: ["load balancer:", "node-2"],
    },
    {
      what: "the runtime API is unreachable",
      change: () => ({
        lb: {
          type: "haproxy" as const,
          runtimeApis: ["127.0.0.1:1"],
          backend: lb.backendName,
          expected: ["node-1", "node-2"],
        },
      }),
      expected: ["load balancer:", "127.0.0.1:1", "stats socket"],
    },
    {
      what: "a node's versionCommand prints nothing",
      change: () => ({
        nodes: request().nodes.map((n) =>
          n.name === "node-2" ? { ...n, version: { transport: "local" as const, script: "true" } } : n,
        ),
      }),
      expected: ["node node-2 release", "versionCommand"],
    },
    {
      // Finding 10: an older targetRelease/targetVersion set after an upgrade, then `up`.
      what: "the target is older than what a node runs (a downgrade through up)",
      change: () => ({
        target: { release: "2023.1", version: "26.0.0" },
        nodes: request().nodes.map((n) =>
          n.name === "node-2"
            ? { ...n, version: { transport: "local" as const, script: "echo 27.1.1-0ubuntu1~cloud0" } }
            : n,
        ),
      }),
      expected: [
        "downgrade refused: targetVersion 26.0.0 (targetRelease 2023.1) is older than what node-1 reports 27.1.1, node-2 reports 27.1.1-0ubuntu1~cloud0",
        "`rollback`",
        "restore the pre-upgrade backup",
      ],
    },
  ])("fails with what to fix when $what, changing nothing", async ({ change, expected }) => {
    const before = await snapshot();
    const error = await runPreflight(request(change()), secrets, ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error, "the preflight must fail").toBeInstanceOf(Error);
    expect(error?.message).toContain("nothing was changed");
    for (const text of expected) expect(error?.message).toContain(text);
    expect(error?.message.includes(passwords.glance) || error?.message.includes(passwords.admin)).toBe(false);
    expect(await snapshot()).toEqual(before);
  });

  it("passes a rerun whose target the nodes already run (not a downgrade)", async () => {
    const result = await runPreflight(
      request({ target: { release: "2023.2", version: "27.1.1" } }),
      secrets,
      ctx,
    );
    expect(JSON.parse(String(result.versionsBefore))).toEqual({ "node-1": "27.1.1", "node-2": "27.1.1" });
  });

  it("lists every problem at once: an unhealthy node and a missing privilege in one error", async () => {
    nodes[1].healthy = false;
    try {
      const before = await snapshot();
      const error = await runPreflight(request({ adminUser: undefined }), secrets, ctx).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(/preflight found [2-9] problem/);
      expect(error?.message).toContain("node node-2 health");
      expect(error?.message).toContain("log_bin_trust_function_creators");
      expect(await snapshot()).toEqual(before);
    } finally {
      nodes[1].healthy = true;
    }
  });

  it("never logs a password", () => {
    for (const line of messages) {
      expect(line.includes(passwords.glance) || line.includes(passwords.admin)).toBe(false);
    }
  });
});
