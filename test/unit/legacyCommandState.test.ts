import type { Deployment } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { legacyCommandRefusal } from "../../driver/legacyCommandState";

const urn = (name: string, type: string) => `urn:pulumi:prod::glance-rolling-upgrade::${type}::${name}`;
const REMOTE = "command:remote:Command";

function deployment(resources: Array<Record<string, unknown>>): Deployment {
  return { version: 3, deployment: { resources } } as Deployment;
}

describe("a Command step state from before step identities (exec: command)", () => {
  const legacy = {
    urn: urn("node-2/stop", REMOTE),
    type: REMOTE,
    inputs: { triggers: ["2024.1", "node-2", "stop"] },
  };

  it("refuses a new release, naming the step, the release it recorded and the way out", () => {
    const refusal = legacyCommandRefusal(deployment([legacy]), "2024.2");
    expect(refusal).toContain("node-2/stop");
    expect(refusal).toContain("for release 2024.1");
    expect(refusal).toContain("Set targetRelease (and targetVersion) back to what that run used (2024.1)");
  });

  it("lets the same release resume (it records the identities), and a state with triggers recorded pass", () => {
    expect(legacyCommandRefusal(deployment([legacy]), "2024.1")).toBeUndefined();
    const recorded = { ...legacy, replacementTrigger: '{"release":"2024.1"}' };
    expect(legacyCommandRefusal(deployment([recorded]), "2024.2")).toBeUndefined();
    const ours = { ...legacy, type: "pulumi-nodejs:dynamic:Resource", urn: urn("node-2/drain", "x") };
    expect(legacyCommandRefusal(deployment([ours]), "2024.2")).toBeUndefined();
    expect(legacyCommandRefusal(deployment([]), "2024.2")).toBeUndefined();
  });
});
