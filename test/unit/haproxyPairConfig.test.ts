/**
 * `loadBalancer.runtimeApi` as a list of HAProxy instances, some reached over SSH: what the config
 * accepts, what it refuses (with the key and the fix), and what the steps receive.
 */
import { describe, expect, it } from "vitest";
import { lbFleet, lbStepSecrets, lbTargetFor } from "../../components/membership";
import { buildPlan } from "../../plan/plan";
import { configErrorOf, haproxyStack, Overrides, parsed } from "./fixtures";

const NS = "glance-rolling-upgrade";
const REMOTE = { ssh: { host: "lb-b.internal", user: "haproxy-ops" }, socket: "/run/haproxy/admin.sock" };

describe("loadBalancer.runtimeApi: one or several HAProxy instances", () => {
  it("a single string still works and reaches the steps as a one-entry list", () => {
    const config = parsed(haproxyStack(2));
    expect(lbTargetFor(config, config.nodes[1])).toEqual({
      type: "haproxy",
      runtimeApis: ["unix:/run/haproxy/admin.sock"],
      backend: "glance_api",
      server: "node-2",
    });
    expect(lbStepSecrets(config)).toEqual([]);
  });

  it("a list of addresses and SSH-forwarded sockets, with the stack's ssh settings applied", () => {
    const config = parsed(
      haproxyStack(2, {
        ssh: {
          user: "ubuntu",
          port: 2222,
          hostKeyPolicy: "accept-new",
          knownHostsFile: "/etc/gru/known_hosts",
        },
        loadBalancer: { runtimeApi: ["unix:/run/haproxy/admin.sock", "10.0.9.2:9999", REMOTE] },
        // A TCP runtime API at a network address is refused unless acknowledged (riskChecks.ts).
        acknowledge: { runtimeApiOverNetwork: true },
      }),
    );
    const expected = [
      "unix:/run/haproxy/admin.sock",
      "10.0.9.2:9999",
      {
        ssh: {
          host: "lb-b.internal",
          user: "haproxy-ops",
          port: 2222,
          hostKeyPolicy: "accept-new",
          knownHostsFile: "/etc/gru/known_hosts",
          connectTimeoutSeconds: 10,
        },
        socket: "/run/haproxy/admin.sock",
      },
    ];
    expect(lbTargetFor(config, config.nodes[0])).toMatchObject({ runtimeApis: expected, server: "node-1" });
    expect(lbFleet(config, config.nodes)).toMatchObject({
      runtimeApis: expected,
      expected: ["node-1", "node-2"],
    });
    // The forward needs the SSH key; the plan names every instance.
    expect(lbStepSecrets(config)).toEqual(["sshPrivateKey"]);
    expect(buildPlan(config).loadBalancer).toBe(
      "HAProxy unix:/run/haproxy/admin.sock, 10.0.9.2:9999, ssh://haproxy-ops@lb-b.internal:2222/run/haproxy/admin.sock backend glance_api",
    );
  });

  it("an SSH entry's own port wins over the stack's", () => {
    const config = parsed(
      haproxyStack(2, { loadBalancer: { runtimeApi: [{ ...REMOTE, ssh: { ...REMOTE.ssh, port: 2200 } }] } }),
    );
    expect(lbTargetFor(config, config.nodes[0])).toMatchObject({
      runtimeApis: [{ ssh: { port: 2200, hostKeyPolicy: "strict" }, socket: "/run/haproxy/admin.sock" }],
    });
  });

  const bad: Array<{ name: string; overrides: Overrides; shows: string[] }> = [
    {
      name: "an empty list",
      overrides: { loadBalancer: { runtimeApi: [] } },
      shows: [`${NS}:loadBalancer.runtimeApi = []`, "list at least one runtime API"],
    },
    {
      name: "a bad address in the list",
      overrides: { loadBalancer: { runtimeApi: ["unix:/a.sock", "/run/haproxy/admin.sock"] } },
      shows: [
        `${NS}:loadBalancer.runtimeApi[1] = "/run/haproxy/admin.sock"`,
        "unix:/path/to/admin.sock or HOST:PORT",
      ],
    },
    {
      name: "a relative remote socket",
      overrides: { loadBalancer: { runtimeApi: [{ ...REMOTE, socket: "admin.sock" }] } },
      shows: [`${NS}:loadBalancer.runtimeApi[0].socket = "admin.sock"`, "absolute path"],
    },
    {
      name: "an SSH entry without a user",
      overrides: {
        loadBalancer: { runtimeApi: [{ ssh: { host: "lb-b" }, socket: "/run/haproxy/admin.sock" }] },
      },
      shows: [`${NS}:loadBalancer.runtimeApi[0].ssh.user = (not set)`, "is required"],
    },
    {
      name: "a number",
      overrides: { loadBalancer: { runtimeApi: 9999 } },
      shows: [`${NS}:loadBalancer.runtimeApi = 9999`, "or a list of those"],
    },
    {
      name: "the same address twice",
      overrides: { loadBalancer: { runtimeApi: ["10.0.9.2:9999", "unix:/a.sock", "10.0.9.2:9999"] } },
      shows: [
        `${NS}:loadBalancer.runtimeApi[2] = "10.0.9.2:9999"`,
        `duplicate of ${NS}:loadBalancer.runtimeApi[0]`,
      ],
    },
    {
      name: "the same remote socket twice (default port and port 22 spelled out)",
      overrides: {
        ssh: { user: "ubuntu" },
        loadBalancer: { runtimeApi: [REMOTE, { ...REMOTE, ssh: { ...REMOTE.ssh, port: 22 } }] },
      },
      shows: [`${NS}:loadBalancer.runtimeApi[1]`, `duplicate of ${NS}:loadBalancer.runtimeApi[0]`],
    },
    {
      name: "an SSH entry without the stack's ssh settings",
      overrides: {
        ssh: undefined,
        nodes: [
          {
            name: "node-1",
            address: "127.0.0.1",
            transport: "local",
            healthUrl: "http://127.0.0.1:9292/healthcheck",
          },
          {
            name: "node-2",
            address: "127.0.0.1",
            transport: "local",
            healthUrl: "http://127.0.0.1:9293/healthcheck",
          },
        ],
        loadBalancer: { runtimeApi: ["unix:/a.sock", REMOTE] },
      },
      shows: [`${NS}:loadBalancer.runtimeApi[1]`, `set ${NS}:ssh`],
    },
  ];
  for (const { name, overrides, shows } of bad) {
    it(`refuses ${name}, naming the key and the fix`, () => {
      const { problems } = configErrorOf(haproxyStack(2, overrides));
      const line = problems.find((p) => shows.every((s) => p.includes(s)));
      expect(
        line,
        `no single problem shows ${JSON.stringify(shows)} in:\n${problems.join("\n")}`,
      ).toBeDefined();
    });
  }
});

describe("loadBalancer.backend: one or several backends holding the Glance servers", () => {
  it("a list reaches every step as the list, and the plan names each backend", () => {
    const config = parsed(
      haproxyStack(2, { loadBalancer: { backend: ["glance_api_back", "glance_api_external_back"] } }),
    );
    const backend = ["glance_api_back", "glance_api_external_back"];
    expect(lbTargetFor(config, config.nodes[1])).toEqual({
      type: "haproxy",
      runtimeApis: ["unix:/run/haproxy/admin.sock"],
      backend,
      server: "node-2",
    });
    expect(lbFleet(config, config.nodes)).toMatchObject({ backend, expected: ["node-1", "node-2"] });
    expect(buildPlan(config).loadBalancer).toBe(
      "HAProxy unix:/run/haproxy/admin.sock backends glance_api_back, glance_api_external_back",
    );
  });

  it("a single name keeps the request it always had (a state written before sees no change)", () => {
    const config = parsed(haproxyStack(2));
    expect(lbTargetFor(config, config.nodes[0])).toMatchObject({ backend: "glance_api" });
    expect(buildPlan(config).loadBalancer).toBe("HAProxy unix:/run/haproxy/admin.sock backend glance_api");
  });

  const bad: Array<{ name: string; overrides: Overrides; shows: string[] }> = [
    {
      name: "an empty list",
      overrides: { loadBalancer: { backend: [] } },
      shows: [`${NS}:loadBalancer.backend = []`, "list at least one backend"],
    },
    {
      name: "the same backend twice",
      overrides: { loadBalancer: { backend: ["glance_api_back", "x", "glance_api_back"] } },
      shows: [`${NS}:loadBalancer.backend[2] = "glance_api_back"`, `duplicate of loadBalancer.backend[0]`],
    },
    {
      name: "a bad name in the list",
      overrides: { loadBalancer: { backend: ["glance_api_back", "glance api"] } },
      shows: [`${NS}:loadBalancer.backend[1] = "glance api"`, "HAProxy backend's name"],
    },
  ];
  for (const { name, overrides, shows } of bad) {
    it(`refuses ${name}, naming the key and the fix`, () => {
      const { problems } = configErrorOf(haproxyStack(2, overrides));
      const line = problems.find((p) => shows.every((s) => p.includes(s)));
      expect(
        line,
        `no single problem shows ${JSON.stringify(shows)} in:\n${problems.join("\n")}`,
      ).toBeDefined();
    });
  }
});
