/**
 * How a config problem is written: the full key (`glance-rolling-upgrade:a.b[0]`), the value as
 * given, and what to do about it.
 */
import { z } from "zod";
import { CONFIG_NAMESPACE } from "./namespace";

export function key(path: ReadonlyArray<PropertyKey>): string {
  return `${CONFIG_NAMESPACE}:${path
    .map((segment, index) =>
      typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`,
    )
    .join("")}`;
}

function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let current: unknown = raw;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment as string];
  }
  return current;
}

export function show(value: unknown): string {
  if (value === undefined) return "(not set)";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const value = valueAt(raw, issue.path);
  let fix = issue.message;
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((k) => `${key([...issue.path, k])}: unknown key: remove it or fix the spelling`)
      .join("\n  - ");
  }
  if (value === undefined && issue.code === "invalid_type") fix = `is required (${issue.message})`;
  if (issue.code === "invalid_union" && issue.path.at(-1) === "newNode") {
    fix =
      "set either {existing: <node name>} or {provision: {name, ami|launchTemplateId, subnetId, securityGroupIds, keyName}}";
  }
  return `${key(issue.path)} = ${show(value)}: ${fix}`;
}

/** How a problem says the risk may be accepted: `set glance-rolling-upgrade:acknowledge.<name>: true`. */
export function ackFix(name: string): string {
  return `set ${key(["acknowledge", name])}: true`;
}
