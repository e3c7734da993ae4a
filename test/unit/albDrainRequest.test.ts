/**
 * The drain request the program builds (components/nodeUpgrade.ts): an ALB's carries the idle probe
 * (its connections script over the node's transport, P, and the SSH key it needs); HAProxy's none.
 */
import { describe, expect, it } from "vitest";
import { runMockProgram, stackConfig } from "./support/mockProgram";

const secrets = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

async function drainInputs(config: Record<string, unknown>) {
  const { registrations } = await runMockProgram(config, secrets);
  const drain = registrations.find((r) => r.name === "node-2/drain");
  if (drain?.inputs === undefined) throw new Error("no node-2/drain");
  return drain.inputs as {
    request: { idle?: { propagationSeconds: number; connections: { script: string; transport: string } } };
    secrets?: Record<string, unknown>;
  };
}

describe("the drain request's idle probe", () => {
  it("ALB: ss on the health URL's port over SSH, P = 5 s by default, with the SSH key", async () => {
    const inputs = await drainInputs(stackConfig(3, {}, "alb"));
    expect(inputs.request.idle?.propagationSeconds).toBe(5);
    expect(inputs.request.idle?.connections.transport).toBe("ssh");
    expect(inputs.request.idle?.connections.script).toContain(
      "ss -Htn state syn-recv state established state fin-wait-1 state close-wait state last-ack " +
        "state closing '( sport = :9292 )'",
    );
    // A Pulumi secret: { <signature>: ..., value }.
    expect(Object.keys((inputs.secrets?.value ?? {}) as object)).toContain("sshPrivateKey");
  });

  it("ALB: the operator's connectionsCommand and propagationSeconds, and the port of nodeCommands.healthUrl", async () => {
    const alb = stackConfig(3, {}, "alb");
    const edited = stackConfig(
      3,
      {
        loadBalancer: { ...(alb.loadBalancer as Record<string, unknown>), propagationSeconds: 12 },
        nodeCommands: { connectionsCommand: "my-conns --port 9393" },
      },
      "alb",
    );
    const inputs = await drainInputs(edited);
    expect(inputs.request.idle?.propagationSeconds).toBe(12);
    expect(inputs.request.idle?.connections.script).toContain("my-conns --port 9393");
    const byPort = await drainInputs(
      stackConfig(3, { nodeCommands: { healthUrl: "http://{address}:9393/healthcheck" } }, "alb"),
    );
    expect(byPort.request.idle?.connections.script).toContain("( sport = :9393 )");
  });

  it("HAProxy: none (its drain sees the sessions itself), and no SSH key for it", async () => {
    const inputs = await drainInputs(stackConfig(3));
    expect(inputs.request.idle).toBeUndefined();
    expect(Object.keys((inputs.secrets?.value ?? {}) as object)).not.toContain("sshPrivateKey");
  });
});
