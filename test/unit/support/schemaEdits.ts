import { copyFileSync } from "node:fs";
import { z } from "zod";
import { stackSchema } from "../../../plan/config/schema";
import { canonicalJson } from "../../../steps/identity";
import { FIXTURE_KNOWN_HOSTS } from "./mockProgram";

/**
 * Every key of the stack schema, read from the schema itself, and an edit of each: the generated edit
 * test (test/unit/editRerun.test.ts) runs every one. A key a later issue adds joins by itself.
 */

/** One leaf of the schema: `loadBalancer.drainTimeoutSeconds`, `nodes[].address`; `|alb` picks a variant. */
export interface SchemaLeaf {
  /** The path, with a union's variant named by its discriminator or index: `loadBalancer|alb.port`. */
  path: string;
  segments: LeafSegment[];
  type: string;
  /** An enum's options or a literal's values. */
  options: unknown[];
}

export type LeafSegment = { key: string } | { each: true } | { variant: string };

type AnySchema = z.core.$ZodType;

/** Walks the schema: objects, optionals, defaults, unions (each variant), arrays (their element). */
export function schemaLeaves(schema: AnySchema = stackSchema): SchemaLeaf[] {
  const leaves: SchemaLeaf[] = [];
  const walk = (node: AnySchema, segments: LeafSegment[]): void => {
    const def = node._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    switch (def.type) {
      case "object":
        for (const [key, child] of Object.entries(def.shape as Record<string, AnySchema>))
          walk(child, [...segments, { key }]);
        return;
      case "optional":
      case "default":
      case "nullable":
      case "prefault":
      case "readonly":
        return walk(def.innerType as AnySchema, segments);
      case "pipe":
        return walk(def.in as AnySchema, segments);
      case "array":
        return walk(def.element as AnySchema, [...segments, { each: true }]);
      case "union":
        (def.options as AnySchema[]).forEach((option, index) =>
          walk(option, [...segments, { variant: variantName(option, index) }]),
        );
        return;
      default: {
        const options =
          def.type === "enum"
            ? Object.values(def.entries as Record<string, unknown>)
            : def.type === "literal"
              ? [...(def.values as unknown[])]
              : [];
        leaves.push({ path: renderPath(segments), segments, type: def.type, options });
      }
    }
  };
  walk(schema, []);
  return leaves;
}

/** A union variant's name: its `type` literal when it has one (`alb`), else its index. */
function variantName(option: AnySchema, index: number): string {
  const def = option._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  if (def.type === "object") {
    const typeField = (def.shape as Record<string, AnySchema>).type;
    const literal = typeField?._zod.def as (z.core.$ZodTypeDef & { values?: unknown[] }) | undefined;
    if (literal?.type === "literal" && literal.values) return String(literal.values[0]);
    const keys = Object.keys(def.shape as Record<string, AnySchema>);
    if (keys.length === 1) return keys[0];
  }
  return String(index);
}

function renderPath(segments: LeafSegment[]): string {
  return segments
    .map((s) => ("key" in s ? `.${s.key}` : "each" in s ? "[]" : `|${s.variant}`))
    .join("")
    .replace(/^\./, "");
}

/** Where a leaf sits in a raw stack config, with `index` for each array on the way. */
export function rawPath(leaf: SchemaLeaf, index = 0): Array<string | number> {
  return leaf.segments.flatMap((s): Array<string | number> =>
    "key" in s ? [s.key] : "each" in s ? [index] : [],
  );
}

/**
 * A known-hosts file the edited `ssh.knownHostsFile` can name: a copy of the fixture's, so `exec:
 * command` still finds every node's key.
 */
const EDITED_KNOWN_HOSTS = `${FIXTURE_KNOWN_HOSTS}-edited`;
copyFileSync(FIXTURE_KNOWN_HOSTS, EDITED_KNOWN_HOSTS);

/** A move to uWSGI with the upgrade (`nodeCommands.serverMove`), the README's systemd commands. */
const SERVER_MOVE = {
  stopCommand: "systemctl stop glance-api glance-api-uwsgi",
  stoppedCheckCommand:
    "! systemctl is-active --quiet glance-api && ! systemctl is-active --quiet glance-api-uwsgi",
  startCommand:
    "systemctl unmask --runtime glance-api && systemctl disable glance-api && systemctl enable --now glance-api-uwsgi",
};
const serverMoveWithout = (leaf: keyof typeof SERVER_MOVE) =>
  (Object.keys(SERVER_MOVE) as Array<keyof typeof SERVER_MOVE>)
    .filter((other) => other !== leaf)
    .map((other) => ({ path: ["nodeCommands", "serverMove", other], value: SERVER_MOVE[other] }));

/**
 * Values for keys a base config leaves out, where no generic value passes the key's own check. Only
 * keys whose format the schema checks need one; the test names a key that has none.
 */
export const EXAMPLE_VALUES: Record<string, unknown[]> = {
  "nodes.instanceId": ["i-0abcdef0123456789"],
  "nodes.haproxyServer": ["edited-server"],
  "nodes.healthUrl": ["http://{address}:9393/healthcheck"],
  "nodes.selfReferenceUrl": ["http://10.0.1.99:9292"],
  "nodes.sshPort": [2222],
  "newNode.provision.launchTemplateId": ["lt-0123456789abcdef0"],
  "newNode.provision.instanceType": ["m6i.large"],
  "newNode.provision.tags": [{ team: "edited" }],
  "ssh.port": [2222],
  "ssh.knownHostsFile": [EDITED_KNOWN_HOSTS],
  "loadBalancer.region": ["eu-west-1", "eu-west-2"],
  "loadBalancer.endpoint": ["https://elasticloadbalancing.eu-west-1.amazonaws.com"],
  "loadBalancer.runtimeApi": ["unix:/run/haproxy/edited.sock", "127.0.0.1:9998"],
  "loadBalancer.runtimeApi.ssh.port": [2200],
  "loadBalancer.backend": ["glance_api_external"],
  "database.caFile": ["/etc/ssl/certs/edited-ca.pem"],
  "database.rdsParameterGroup": ["glance-edited"],
  "database.galeraMembers": ["10.0.0.11:3306"],
  "backup.region": ["eu-west-2"],
  "backup.endpoint": ["https://rds.eu-west-1.amazonaws.com"],
  "nodeCommands.prestageCommand": ["apt-get install --download-only -y glance-api"],
  "nodeCommands.serverMove.stopCommand": [SERVER_MOVE.stopCommand],
  "nodeCommands.serverMove.stoppedCheckCommand": [SERVER_MOVE.stoppedCheckCommand],
  "nodeCommands.serverMove.startCommand": [SERVER_MOVE.startCommand],
  "nodeCommands.connectionsCommand": ["ss -Htn state established '( sport = :9393 )'"],
  "bake.alarmNames": ["glance-5xx"],
  "glanceConfig.acknowledge": ["DEFAULT/site_option"],
  approvedRelease: ["2024.1"],
  "rollbackTo.release": ["2023.2"],
  "rollbackTo.version": ["27.1.1"],
  pauseAfter: ["newNode", 1],
  "backup.acceptSnapshotCreatedAt": ["2026-01-31T09:15:02.000Z"],
  "acknowledge.minHealthyZero": [true],
  "acknowledge.databaseWithoutTls": [true],
  "acknowledge.awsEndpointOverHttp": [true],
  "acknowledge.runtimeApiOverNetwork": [true],
};

/**
 * Keys that are valid only together with another (an acknowledgement with the risk it accepts): the
 * edit sets these too. Paths and values as in a raw stack config.
 */
export const COMPANION_EDITS: Record<string, Array<{ path: string[]; value: unknown }>> = {
  "acknowledge.minHealthyZero": [{ path: ["loadBalancer", "minHealthy"], value: 0 }],
  "acknowledge.databaseWithoutTls": [{ path: ["database", "tls"], value: false }],
  "acknowledge.awsEndpointOverHttp": [
    { path: ["loadBalancer", "endpoint"], value: "http://elbv2.internal:5000" },
  ],
  "acknowledge.runtimeApiOverNetwork": [{ path: ["loadBalancer", "runtimeApi"], value: "10.0.0.5:9999" }],
  // serverMove's three commands come together.
  "nodeCommands.serverMove.stopCommand": serverMoveWithout("stopCommand"),
  "nodeCommands.serverMove.stoppedCheckCommand": serverMoveWithout("stoppedCheckCommand"),
  "nodeCommands.serverMove.startCommand": serverMoveWithout("startCommand"),
};

/** The path without variants or arrays: `loadBalancer.runtimeApi.ssh.port`. */
export function plainPath(leaf: SchemaLeaf): string {
  return leaf.segments.flatMap((s) => ("key" in s ? [s.key] : [])).join(".");
}

/** Generic edits of a value, tried in order until one parses and changes the parsed config. */
export function candidates(leaf: SchemaLeaf, current: unknown): unknown[] {
  const examples = EXAMPLE_VALUES[plainPath(leaf)] ?? [];
  switch (leaf.type) {
    case "enum":
    case "literal":
      return leaf.options.filter((o) => o !== current);
    case "boolean":
      return [!(current ?? false)];
    case "number": {
      const n = typeof current === "number" ? current : undefined;
      return [...(n === undefined ? [] : [n + 1, n * 2, n - 1]), ...examples, 1, 2, 0, 30, 600];
    }
    case "string": {
      if (typeof current !== "string") return examples;
      const bumped = current.replace(/\d+(?!.*\d)/, (d) => String(Number(d) + 1));
      const ninety = current.replace(/\d+(?!.*\d)/, "99");
      return [bumped, ninety, `${current}x`, `${current}-edited`, ...examples].filter((v) => v !== current);
    }
    case "record":
      return [...examples, { edited: "yes" }];
    default:
      return examples;
  }
}

/** Reads `path` in a raw config (arrays: their element `index`). */
export function readAt(raw: unknown, path: Array<string | number>): unknown {
  let value: unknown = raw;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** A copy of `raw` with `path` set to `value` (objects on the way are created). */
export function writeAt(raw: Record<string, unknown>, path: Array<string | number>, value: unknown) {
  const copy = structuredClone(raw);
  let target: Record<string | number, unknown> = copy;
  path.slice(0, -1).forEach((key, i) => {
    const next = target[key];
    if (next === null || typeof next !== "object") target[key] = typeof path[i + 1] === "number" ? [] : {};
    target = target[key] as Record<string | number, unknown>;
  });
  target[path[path.length - 1]] = value;
  return copy;
}

/** True when two parsed configs differ (key order aside). */
export function differs(a: unknown, b: unknown): boolean {
  return canonicalJson(a) !== canonicalJson(b);
}
