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
import {
  readTrustFunctionCreators,
  restoreTrustFunctionCreators,
  setTrustFunctionCreators,
} from "../../steps/db/privileges";
import type { PreflightRequest, StepRequest, StepSecrets } from "../../steps/protocol";
import { StepInputs, stepProviderMethods } from "../../steps/execute";
import { recordedTrustBefore, trustRestore } from "../../steps/db/trustRecord";

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
    rollout: { drainTimeoutSeconds: 300, healthTimeoutSeconds: 120 },
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
    expect(result.versionsBefore).toEqual({ "node-1": "27.1.1", "node-2": "27.1.1" });
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
    {
      // Issue 34: a jump OpenStack does not support, seen from what the nodes report (no rollbackTo).
      what: "the target is two releases past what the nodes run, from a release that is not SLURP",
      change: () => ({ target: { release: "2024.2", version: "29.2.1" } }),
      expected: [
        "node-1 reports 27.1.1 (2023.2): 2023.2 -> 2024.2 is not an upgrade OpenStack supports",
        "one upgrade each: 2023.2 -> 2024.1 -> 2024.2",
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
    expect(result.versionsBefore).toEqual({ "node-1": "27.1.1", "node-2": "27.1.1" });
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

  describe("I7: the value restored is the one the preflight recorded before anything changed", () => {
    const RELEASE = "2024.1";
    const inputs = (step: string, request: StepRequest): StepInputs => ({
      step,
      kind: request.kind,
      release: RELEASE,
      request,
      secrets,
    });
    const dbRef = () => request().db;
    const allowRequest = (): StepRequest => ({ kind: "allow-functions", db: dbRef(), adminUser: "admin" });
    const result = (outs: Record<string, unknown>) => outs.result as Record<string, unknown>;
    const trust = async () => (await snapshot()).trust;
    // The test before took a node's health away: HAProxy sees it UP again a few checks later.
    beforeAll(async () => {
      const deadline = Date.now() + 15_000;
      while (
        (await readBackendServers(lb.runtimeApi, lb.backendName)).some((s) => !s.status.startsWith("UP"))
      ) {
        if (Date.now() > deadline) throw new Error("HAProxy never saw every node UP again");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    const admin = () => ({ ...dbRef(), user: "admin", password: passwords.admin });
    /** db/restore-setting, with the request the program builds from the two results. */
    async function restoreSetting(preflight: Record<string, unknown>, allow: Record<string, unknown>) {
      const decided = trustRestore({
        before: recordedTrustBefore(result(preflight)),
        allow: { previous: result(allow).previous === true, changed: result(allow).changed === true },
        adminConfigured: true,
      });
      const restore: StepRequest = { kind: "restore-setting", db: dbRef(), adminUser: "admin", ...decided };
      await stepProviderMethods.create(inputs("db/restore-setting", restore));
    }

    it("5a: a failed run restored 0, the driver set 1 to resume, an edit re-ran preflight and allow-functions: 0", async () => {
      expect(await trust()).toBe(false);
      const preflight = (
        await stepProviderMethods.create(inputs("preflight", { kind: "preflight", ...request() }))
      ).outs;
      const allow = (await stepProviderMethods.create(inputs("db/allow-functions", allowRequest()))).outs;
      expect(result(allow)).toEqual({ previous: false, changed: true });
      // The run fails; the driver restores 0, then sets 1 again to resume (driver/mysqlSetting.ts).
      await restoreTrustFunctionCreators({ admin: admin(), previous: false }, ctx);
      await setTrustFunctionCreators({ admin: admin() }, ctx);
      // A database.* key was edited: both steps' requests changed, so both run again (updates).
      const edited = { ...request(), nodes: request().nodes.slice().reverse() };
      const preflightAgain = (
        await stepProviderMethods.update(
          "preflight",
          preflight as unknown as StepInputs,
          inputs("preflight", { kind: "preflight", ...edited }),
        )
      ).outs;
      expect(result(preflightAgain)).toMatchObject({
        trustFunctionCreators: true,
        trustFunctionCreatorsBefore: false,
      });
      const allowAgain = (
        await stepProviderMethods.update(
          "db/allow-functions",
          allow as unknown as StepInputs,
          inputs("db/allow-functions", allowRequest()),
        )
      ).outs;
      expect(result(allowAgain)).toEqual({ previous: true, changed: false });
      await restoreSetting(preflightAgain, allowAgain);
      expect(await trust()).toBe(false);
    });

    it("5b: a run killed between SET GLOBAL and the state write: allow-functions runs again and reads 1; 0", async () => {
      expect(await trust()).toBe(false);
      const preflight = (
        await stepProviderMethods.create(inputs("preflight", { kind: "preflight", ...request() }))
      ).outs;
      // The killed run's allow-functions set 1; its outputs never reached the state.
      await stepProviderMethods.create(inputs("db/allow-functions", allowRequest()));
      const allowAgain = (await stepProviderMethods.create(inputs("db/allow-functions", allowRequest())))
        .outs;
      expect(result(allowAgain)).toEqual({ previous: true, changed: false });
      await restoreSetting(preflight, allowAgain);
      expect(await trust()).toBe(false);
    });
  });

  it("never logs a password", () => {
    for (const line of messages) {
      expect(line.includes(passwords.glance) || line.includes(passwords.admin)).toBe(false);
    }
  });
});
