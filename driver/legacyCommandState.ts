import type { Deployment } from "@pulumi/pulumi/automation";
import { urnName } from "./state";

/** A Command step as a state export holds it. */
interface CommandRecord {
  urn: string;
  type?: string;
  replacementTrigger?: unknown;
  inputs?: { triggers?: unknown[] };
}

/**
 * Under `exec: command`, a step's identity is its `replacementTrigger` (components/exec/command.ts),
 * and its `update` command does nothing. A state written before step identities has no trigger, and
 * the engine never replaces on a missing one: a new release would update its Command steps, running
 * nothing. Such a state must first record the identities with its own release (an `up` that runs no
 * step); a new release is refused until then, before anything is touched.
 */
export function legacyCommandRefusal(deployment: Deployment, targetRelease: string): string | undefined {
  const resources = ((deployment.deployment as { resources?: CommandRecord[] }).resources ?? []).filter(
    (r) =>
      (r.type ?? "").startsWith("command:") &&
      (r.replacementTrigger === undefined || r.replacementTrigger === null),
  );
  const stale = resources.filter((r) => r.inputs?.triggers?.[0] !== targetRelease);
  if (stale.length === 0) return undefined;
  const recorded = String(stale[0].inputs?.triggers?.[0] ?? "its release");
  return (
    `the state's Command steps (${stale
      .map((r) => urnName(r.urn))
      .slice(0, 3)
      .join(", ")}${stale.length > 3 ? ", ..." : ""}) ` +
    `were written by a build of this program from before step identities, for release ${recorded}, and a Command ` +
    `step of that build would not run again for ${targetRelease}. Set targetRelease (and targetVersion) back to ` +
    `what that run used (${recorded}) and run \`up\` once: it runs no step and records each step's identity. ` +
    `Then set ${targetRelease} again.`
  );
}
