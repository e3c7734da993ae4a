import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { readStackConfig } from "../../plan/config/read";
import { RollingRollback } from "../../components/rollback";
import { nodeStep, parseNodeStep, RELEASE_CHANGE_KINDS } from "../../plan/stepIds";
import { runMockProgram, stackConfig } from "./support/mockProgram";

const withAdmin = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

describe("RollingRollback: the steps of an upgrade wave, under rollback/", () => {
  it("registers each node's release change in order, the driver's rollback ids, one node after the other", async () => {
    const config = stackConfig(3, { rollbackTo: { release: "2023.2", version: "27.1.1" } });
    const { upgrade } = await runMockProgram(config, withAdmin);
    const names: string[] = [];
    const dependsOn = new Map<string, string[]>();
    const byResource = new Map<pulumi.Resource, string>();
    const rollback = new RollingRollback(
      "glance-rollback",
      { ...readStackConfig(), nodes: ["node-2", "node-3"] },
      {
        transformations: [
          (args) => {
            byResource.set(args.resource, args.name);
            if (parseNodeStep(args.name)) {
              names.push(args.name);
              const deps = (args.opts.dependsOn ?? []) as pulumi.Resource[];
              dependsOn.set(
                args.name,
                deps.map((d) => byResource.get(d) ?? "?"),
              );
            }
            return undefined;
          },
        ],
      },
    );
    const expected = ["node-2", "node-3"].flatMap((node) =>
      RELEASE_CHANGE_KINDS.map((kind) => nodeStep(node, kind, true)),
    );
    expect(rollback.steps).toEqual(expected);
    expect(names).toEqual(expected);
    // The upgrade changes a wave node's release with the same kinds.
    const upgradeKinds = upgrade.plan.steps
      .filter((s) => s.node === "node-2" && s.kind !== "version")
      .map((s) => s.kind);
    expect(upgradeKinds).toEqual([...RELEASE_CHANGE_KINDS]);
    expect(dependsOn.get(nodeStep("node-2", "drain", true))).toEqual([]);
    expect(dependsOn.get(nodeStep("node-3", "drain", true))).toEqual([nodeStep("node-2", "admit", true)]);
    expect(dependsOn.get(nodeStep("node-3", "admit", true))).toEqual([nodeStep("node-3", "start", true)]);
  });
});
