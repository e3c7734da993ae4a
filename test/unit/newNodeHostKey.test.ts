/**
 * Issue 30, finding 9: a provisioned NEW NODE forced trust on first use for every node and HAProxy
 * host (the policy was global: `plan` refused strict). Now only the instance the stack launches
 * learns its key on first connection; every other SSH target keeps strict checking against
 * ssh.knownHostsFile. Read from the step requests the real program registers (Pulumi mocks).
 */
import { describe, expect, it } from "vitest";
import { FIXTURE_KNOWN_HOSTS, provisionedStackConfig, runMockProgram } from "./support/mockProgram";

const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

interface SshSpec {
  host: unknown;
  hostKeyPolicy: string;
  knownHostsFile?: string;
}

/** Every SSH target in a step request, with the step it belongs to. */
function sshTargets(name: string, request: unknown): Array<{ step: string; ssh: SshSpec }> {
  const found: Array<{ step: string; ssh: SshSpec }> = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value === null || typeof value !== "object") return;
    const record = value as Record<string, unknown>;
    if (typeof record.hostKeyPolicy === "string")
      found.push({ step: name, ssh: record as unknown as SshSpec });
    Object.values(record).forEach(visit);
  };
  visit(request);
  return found;
}

async function targetsOf(policy: string): Promise<Array<{ step: string; ssh: SshSpec }>> {
  const config = provisionedStackConfig(2);
  const { registrations } = await runMockProgram(
    { ...config, ssh: { user: "ubuntu", hostKeyPolicy: policy, knownHostsFile: FIXTURE_KNOWN_HOSTS } },
    SECRETS,
  );
  return registrations.flatMap((r) => sshTargets(r.name, r.inputs?.request));
}

describe("host keys with a NEW NODE the stack launches", () => {
  it("strict is accepted: the launched node alone is trusted on first use, every other target stays strict", async () => {
    const targets = await targetsOf("strict");
    // The mock engine gives the launched instance the private IP 10.0.9.9.
    const launched = targets.filter((t) => t.ssh.host === "10.0.9.9");
    const others = targets.filter((t) => t.ssh.host !== "10.0.9.9");
    // The NEW NODE's own steps and the schema steps that run on it (I3) learn its key ...
    expect(new Set(launched.map((t) => t.step))).toEqual(
      new Set([
        "node-new/upgrade",
        "node-new/upgrade-check",
        "node-new/config-check",
        "db/expand",
        "db/migrate",
        "db/verify",
        "node-new/start",
        "node-new/version",
        "db/contract",
      ]),
    );
    expect(new Set(launched.map((t) => t.ssh.hostKeyPolicy))).toEqual(new Set(["accept-new"]));
    // ... and every other target (the preflight's and each existing node's steps) stays strict.
    expect(new Set(others.map((t) => t.step))).toEqual(
      new Set([
        "preflight",
        // The ALB drain reads the node's connections over SSH (its early end, issue 32).
        "node-1/drain",
        "node-2/drain",
        "node-1/stop",
        "node-1/upgrade",
        "node-1/start",
        "node-1/version",
        "node-2/stop",
        "node-2/upgrade",
        "node-2/start",
        "node-2/version",
      ]),
    );
    expect(new Set(others.map((t) => t.ssh.hostKeyPolicy))).toEqual(new Set(["strict"]));
    for (const t of targets) expect(t.ssh.knownHostsFile).toBe(FIXTURE_KNOWN_HOSTS);
  });

  it("a policy the operator chose is kept as chosen (negative controls: accept-new, insecure)", async () => {
    expect(new Set((await targetsOf("accept-new")).map((t) => t.ssh.hostKeyPolicy))).toEqual(
      new Set(["accept-new"]),
    );
    expect(new Set((await targetsOf("insecure")).map((t) => t.ssh.hostKeyPolicy))).toEqual(
      new Set(["insecure"]),
    );
  });
});
