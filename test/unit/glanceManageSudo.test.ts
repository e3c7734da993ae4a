/**
 * passConnectionToGlanceManage with a glanceManageCommand that runs through sudo: refused unless sudo
 * is asked to keep OS_DATABASE__CONNECTION (env_reset drops it: test/integration/glanceManageSudo.test.ts).
 */
import { describe, expect, it } from "vitest";
import { configErrorOf, haproxyStack, parsed } from "./fixtures";

const NS = "glance-rolling-upgrade";

function stack(glanceManageCommand: string, passConnectionToGlanceManage = true) {
  return haproxyStack(2, {
    database: { passConnectionToGlanceManage },
    nodeCommands: { glanceManageCommand },
  });
}

describe("passConnectionToGlanceManage through sudo", () => {
  const refused = [
    "sudo -u glance glance-manage",
    "sudo -n -u glance /usr/bin/glance-manage",
    "/usr/bin/sudo -u glance glance-manage",
    "cd /tmp && sudo -u glance glance-manage",
    // Another variable kept, not this one.
    "sudo --preserve-env=OS_AUTH_URL -u glance glance-manage",
    // -E after the command belongs to the command, not to sudo.
    "sudo -u glance glance-manage -E",
  ];
  for (const command of refused) {
    it(`refuses ${JSON.stringify(command)}, naming the key, the value and the fix`, () => {
      const { problems } = configErrorOf(stack(command));
      const line = problems.find((p) => p.startsWith(`${NS}:nodeCommands.glanceManageCommand = `));
      expect(line, problems.join("\n")).toBeDefined();
      expect(line).toContain(JSON.stringify(command).slice(0, 40));
      expect(line).toContain("sudo's env_reset drops it");
      expect(line).toContain("sudo --preserve-env=OS_DATABASE__CONNECTION -u glance glance-manage");
      expect(line).toContain('env_keep += "OS_DATABASE__CONNECTION"');
    });
  }

  const accepted = [
    "sudo --preserve-env=OS_DATABASE__CONNECTION -u glance glance-manage",
    "sudo -n --preserve-env=PATH,OS_DATABASE__CONNECTION -u glance glance-manage",
    "sudo -E -u glance glance-manage",
    "sudo -nE -u glance glance-manage",
    "sudo --preserve-env -u glance glance-manage",
    "glance-manage",
    "/opt/glance/bin/glance-manage",
  ];
  for (const command of accepted) {
    it(`accepts ${JSON.stringify(command)}`, () => {
      expect(parsed(stack(command)).nodeCommands.glanceManageCommand).toBe(command);
    });
  }

  it("accepts plain sudo when the connection is not passed (glance-manage reads the node's config)", () => {
    const config = parsed(stack("sudo -u glance glance-manage", false));
    expect(config.nodeCommands.glanceManageCommand).toBe("sudo -u glance glance-manage");
  });
});
