import { createHash } from "node:crypto";
import { canonicalJson } from "../../../steps/identity";
import { FIXTURE_KNOWN_HOSTS, provisionedStackConfig, stackConfig } from "./mockProgram";

const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

/**
 * The stacks whose steps the identity pins cover: between them every step kind, both executors and
 * both kinds of NEW NODE. `steps` names the steps pinned (one per kind and executor is enough: every
 * node's steps are built by the same code).
 */
export const PIN_CONFIGS = {
  haproxy: {
    stack: stackConfig(3, {
      nodeCommands: { prestageCommand: "apt-get install --download-only -y glance-api" },
      bake: { windowSeconds: 60 },
    }),
    secrets: SECRETS,
    steps: [
      "preflight",
      "db/backup",
      "node-2/prestage",
      "node-1/upgrade-check",
      "db/allow-functions",
      "db/expand",
      "db/migrate",
      "db/verify",
      "node-2/drain",
      "node-2/stop",
      "node-2/upgrade",
      "node-2/start",
      "node-2/admit",
      "node-2/bake",
      "node-2/version",
      "fleet/verify",
      "db/contract",
      "db/restore-setting",
    ],
  },
  provisioned: {
    stack: provisionedStackConfig(2),
    secrets: SECRETS,
    steps: ["node-new/upgrade", "node-new/admit", "node-1/drain"],
  },
  command: {
    stack: stackConfig(2, { exec: "command" }),
    secrets: SECRETS,
    steps: ["node-2/stop", "node-2/start", "node-2/version", "db/verify", "node-2/drain"],
  },
} as const;

/** What makes a step the same step, as the provider compares it (steps/identity.ts `sameStep`). */
export function identityRecord(inputs: Record<string, unknown>): string {
  const { step, kind, node, release, identity } = inputs;
  return canonicalJson({ step, kind, node, release, identity });
}

/**
 * A request as canonical JSON, with each script replaced by a digest (the scripts themselves are
 * pinned in scripts.test.ts) and the fixture's per-process known_hosts path by a name.
 */
export function pinnedRequest(request: unknown): string {
  const digested = JSON.parse(JSON.stringify(request ?? null), (key, value: unknown) =>
    key === "script" && typeof value === "string"
      ? `sha256:${createHash("sha256").update(value).digest("hex").slice(0, 16)}`
      : value,
  ) as unknown;
  return canonicalJson(digested).replaceAll(FIXTURE_KNOWN_HOSTS, "$KNOWN_HOSTS");
}
