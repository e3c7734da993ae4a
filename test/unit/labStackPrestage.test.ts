/**
 * labStackConfig's `prestage` option: the lab's `glance-node ... prestage` as the stack's
 * prestageCommand, only for a lab whose upgrades are real installs (the "wheelhouse" mode); the
 * config it renders parses, and its plan pre-stages every node before its drain.
 */
import { describe, expect, it } from "vitest";
import { defaultLabLayout, labStackConfig } from "../../lab/stack";
import { parseStackConfig } from "../../plan/config";
import { buildPlan } from "../../plan/plan";

const commands = (config: Record<string, unknown>) => config.nodeCommands as Record<string, unknown>;

describe("labStackConfig prestage", () => {
  const realistic = { ...defaultLabLayout(), upgradeMode: "wheelhouse" as const };

  it("is off by default, in either mode", () => {
    expect(commands(labStackConfig(defaultLabLayout(), { transport: "local" }))).not.toHaveProperty(
      "prestageCommand",
    );
    expect(commands(labStackConfig(realistic, { transport: "local" }))).not.toHaveProperty("prestageCommand");
  });

  it("runs glance-node prestage with the target version, shaped like the upgrade command", () => {
    const nodeCommands = commands(labStackConfig(realistic, { transport: "local", prestage: true }));
    const bin = realistic.glanceNodeBin;
    expect(nodeCommands.prestageCommand).toBe(
      `${bin} ${realistic.dir} prestage "$GLANCE_NODE" "$GLANCE_TARGET_VERSION"`,
    );
    expect(nodeCommands.upgradeCommand).toBe(
      `${bin} ${realistic.dir} install "$GLANCE_NODE" "$GLANCE_TARGET_VERSION"`,
    );
  });

  it("refuses a lab in the fast switch mode, naming how to bring one up in the wheelhouse mode", () => {
    expect(() => labStackConfig(defaultLabLayout(), { transport: "local", prestage: true })).toThrow(
      /prestage needs a lab in the "wheelhouse" upgrade mode.*"switch".*--realistic-upgrade/,
    );
  });

  it("renders a config the parser accepts, whose plan pre-stages each node after the backup and before its drain", () => {
    const secret = { present: true, isSecret: true };
    const config = parseStackConfig(labStackConfig(realistic, { transport: "local", prestage: true }), {
      dbPassword: secret,
      dbAdminPassword: secret,
      sshPrivateKey: { present: false, isSecret: false },
    });
    const steps = buildPlan(config).steps;
    for (const node of ["node-1", "node-2", "node-3"]) {
      expect(steps.find((s) => s.id === `${node}/prestage`)?.after).toEqual(["preflight", "db/backup"]);
      expect(steps.find((s) => s.id === `${node}/drain`)?.after).toContain(`${node}/prestage`);
    }
  });
});
