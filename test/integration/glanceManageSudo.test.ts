/**
 * Whether OS_DATABASE__CONNECTION, exported to the glance-manage script as passConnectionToGlanceManage
 * does, reaches a glanceManageCommand run through the real sudo under this machine's sudoers (Debian's
 * default: `Defaults env_reset`). The script is the program's own (buildNodeScript) run by the
 * native executor's local runner, with a stand-in glance-manage that says whether it got a connection.
 * Needs root (sudo -n to another user without a password) and sudo (`apt-get install -y sudo`).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glanceManageConnection } from "../../components/dbMigration";
import { runScript } from "../../steps/exec/run";
import { buildNodeScript } from "../../steps/node/scripts";
import { recordingContext } from "../support/stepHarness";
import { configErrorOf, haproxyStack, parsed } from "../unit/fixtures";

const canSudo = process.getuid?.() === 0 && spawnSync("sudo", ["-n", "-u", "nobody", "true"]).status === 0;
const SECRET_PASSWORD = `s3cret-${Date.now()}`;
const CONNECTION = glanceManageConnection(
  { user: "glance", host: "127.0.0.1", port: 3306, name: "glance", tls: false },
  SECRET_PASSWORD,
);

describe.skipIf(!canSudo)(
  "glance-manage through sudo with the connection in the environment (real sudo)",
  () => {
    let dir: string;
    let fake: string;
    /** What ps saw while glance-manage ran, unredacted (the step's own output is redacted). */
    let psFile: string;

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-sudo-"));
      fs.chmodSync(dir, 0o755);
      fake = path.join(dir, "glance-manage");
      psFile = path.join(dir, "ps.txt");
      fs.writeFileSync(psFile, "", { mode: 0o666 });
      fs.chmodSync(psFile, 0o666);
      // Says who it runs as, whether the connection arrived (never its value), and its own argv.
      fs.writeFileSync(
        fake,
        [
          "#!/bin/sh",
          'if [ -n "${OS_DATABASE__CONNECTION:-}" ]; then got=set; else got=unset; fi',
          'echo "fake glance-manage as $(id -un): connection $got; argv: $0 $*"',
          `ps -o args= -u "$(id -u),0" > ${path.join(dir, "ps.txt")}`,
        ].join("\n"),
        { mode: 0o755 },
      );
    });

    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    async function expandWith(glanceManageCommand: string) {
      const config = parsed(
        haproxyStack(2, {
          database: { passConnectionToGlanceManage: false },
          nodeCommands: { glanceManageCommand },
        }),
      );
      const ctx = recordingContext();
      const result = await runScript(
        {
          transport: "local",
          script: buildNodeScript("expand", config, { name: "node-1" }),
          secrets: { OS_DATABASE__CONNECTION: CONNECTION },
          timeoutSeconds: 30,
        },
        ctx,
      );
      return { stdout: result.stdout, stderr: result.stderr, log: ctx.lines.join("\n") };
    }

    it("evidence: `sudo -u <user> glance-manage` drops the variable (env_reset), and glance-manage runs anyway", async () => {
      const { stdout } = await expandWith(`sudo -n -u nobody ${fake}`);
      expect(stdout).toContain("fake glance-manage as nobody: connection unset");
      // The plan now refuses it with passConnectionToGlanceManage.
      const refused = configErrorOf(
        haproxyStack(2, {
          database: { passConnectionToGlanceManage: true },
          nodeCommands: { glanceManageCommand: `sudo -n -u nobody ${fake}` },
        }),
      );
      expect(refused.problems.join("\n")).toContain("sudo's env_reset drops it");
    });

    it("`sudo --preserve-env=OS_DATABASE__CONNECTION` (what the plan asks for) delivers it, never in argv", async () => {
      const command = `sudo -n --preserve-env=OS_DATABASE__CONNECTION -u nobody ${fake}`;
      // Accepted by the plan with passConnectionToGlanceManage.
      expect(
        parsed(
          haproxyStack(2, {
            database: { passConnectionToGlanceManage: true },
            nodeCommands: { glanceManageCommand: command },
          }),
        ).nodeCommands.glanceManageCommand,
      ).toBe(command);
      const { stdout, log } = await expandWith(command);
      expect(stdout).toContain("fake glance-manage as nobody: connection set");
      expect(stdout).toContain(`argv: ${fake} db expand`);
      // Every process of root and nobody while glance-manage ran (sudo's own line shows ps saw it): the
      // password in none of their argv.
      const ps = fs.readFileSync(psFile, "utf8");
      expect(ps).toContain(`sudo -n --preserve-env=OS_DATABASE__CONNECTION -u nobody ${fake} db expand`);
      expect(ps).not.toContain(SECRET_PASSWORD);
      expect(log).not.toContain(SECRET_PASSWORD);
    });

    it("negative control: the argv check sees a connection written into the command", async () => {
      const { stdout } = await expandWith(
        `sudo -n -u nobody env OS_DATABASE__CONNECTION="$OS_DATABASE__CONNECTION" ${fake}`,
      );
      expect(stdout).toContain("connection set");
      expect(fs.readFileSync(psFile, "utf8")).toContain(SECRET_PASSWORD);
    });
  },
);
