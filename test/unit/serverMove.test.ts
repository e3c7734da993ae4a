/**
 * Issue 34 item 2: an upgrade that moves each node from one server to another (Glance 2026.1: the
 * eventlet server out, uWSGI in), `nodeCommands.serverMove`. Its config and its errors, the scripts
 * it gives the stop and start steps and the rollback's, and those scripts run for real against a
 * stand-in node with two servers, from every state a rerun can find it in.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildNodeScript, rollbackNodeCommands } from "../../steps/node/scripts";
import { kindSpec } from "../../plan/stepKinds";
import { configErrorOf, haproxyStack, parsed } from "./fixtures";

const NS = "glance-rolling-upgrade";
const root = mkdtempSync(join(tmpdir(), "gru-server-move-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const README_MOVE = {
  stopCommand: "systemctl stop glance-api glance-api-uwsgi",
  stoppedCheckCommand:
    "! systemctl is-active --quiet glance-api && ! systemctl is-active --quiet glance-api-uwsgi",
  startCommand:
    "systemctl unmask --runtime glance-api && systemctl disable glance-api && systemctl enable --now glance-api-uwsgi",
};

const withMove = (serverMove: Record<string, unknown>, nodeCommands: Record<string, unknown> = {}) =>
  haproxyStack(2, { nodeCommands: { ...nodeCommands, serverMove } });

describe("nodeCommands.serverMove: config", () => {
  it("parses the README's systemd commands; unset, nothing changes", () => {
    expect(parsed(withMove(README_MOVE)).nodeCommands.serverMove).toEqual(README_MOVE);
    expect(parsed(haproxyStack(2)).nodeCommands.serverMove).toBeUndefined();
  });

  it("a missing command is named with what it does and an example", () => {
    const { problems } = configErrorOf(withMove({ stopCommand: README_MOVE.stopCommand }));
    expect(problems).toEqual([
      `${NS}:nodeCommands.serverMove.stoppedCheckCommand = (not set): is required (succeeds once neither server runs, e.g. ! systemctl is-active --quiet glance-api && ! systemctl is-active --quiet glance-api-uwsgi)`,
      `${NS}:nodeCommands.serverMove.startCommand = (not set): is required (starts the new release under the new server, e.g. systemctl unmask --runtime glance-api && systemctl disable glance-api && systemctl enable --now glance-api-uwsgi)`,
    ]);
  });

  it("refuses a start that is startCommand (it would move nothing), an unknown key and a multi-line command", () => {
    const same = configErrorOf(
      withMove(
        { ...README_MOVE, startCommand: "systemctl start glance-api" },
        { startCommand: "systemctl start glance-api" },
      ),
    );
    expect(same.problems).toEqual([
      `${NS}:nodeCommands.serverMove.startCommand = "systemctl start glance-api": it is nodeCommands.startCommand, which starts the old release's server (the rollback runs it), so the upgrade would move no node: make it start the new server (e.g. systemctl enable --now glance-api-uwsgi), or remove serverMove`,
    ]);
    expect(configErrorOf(withMove({ ...README_MOVE, startCmd: "x" })).problems).toEqual([
      `${NS}:nodeCommands.serverMove.startCmd: unknown key: remove it or fix the spelling`,
    ]);
    expect(configErrorOf(withMove({ ...README_MOVE, stopCommand: "a\nb" })).problems[0]).toContain(
      "nodeCommands.serverMove.stopCommand",
    );
  });

  it("refuses prestageCommand when it is serverMove's stop or start (it runs on a node in rotation)", () => {
    for (const [name, command] of [
      ["stopCommand", README_MOVE.stopCommand],
      ["startCommand", README_MOVE.startCommand],
    ]) {
      const { problems } = configErrorOf(withMove(README_MOVE, { prestageCommand: command }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`and it is nodeCommands.serverMove.${name}, which`);
    }
  });
});

describe("nodeCommands.serverMove: the scripts", () => {
  const config = parsed(withMove(README_MOVE));
  const node = { name: "node-2" };

  it("the upgrade stops with serverMove's stop and check and starts the new server; the runbook says so", () => {
    const stop = buildNodeScript("stop", config, node);
    expect(stop).toContain(`\n${README_MOVE.stopCommand}\n`);
    expect(stop).toContain(`  if ${README_MOVE.stoppedCheckCommand}; then`);
    expect(buildNodeScript("start", config, node)).toContain(`\n${README_MOVE.startCommand}\n`);
    expect(kindSpec("node", "start").describe({ config, newNode: false })).toContain("under its new server");
    expect(kindSpec("node", "stop").describe({ config, newNode: false })).toContain(
      "whichever server runs it",
    );
  });

  it("the rollback stops with serverMove's stop and check and starts with startCommand (the old server)", () => {
    const back = { ...config, nodeCommands: rollbackNodeCommands(config.nodeCommands) };
    expect(back.nodeCommands.serverMove).toBeUndefined();
    expect(buildNodeScript("stop", back, node)).toContain(`\n${README_MOVE.stopCommand}\n`);
    expect(buildNodeScript("start", back, node)).toContain(
      "\nsystemctl unmask --runtime glance-api && systemctl start glance-api\n",
    );
    // Without serverMove, the rollback's commands are the upgrade's.
    const plain = parsed(haproxyStack(2));
    expect(rollbackNodeCommands(plain.nodeCommands)).toBe(plain.nodeCommands);
  });
});

/**
 * A stand-in node with two servers: a running server is a file (`eventlet`, `uwsgi`), `stop-all`
 * removes both, `start-uwsgi` creates `uwsgi`, and the check is that neither file is there.
 */
function standInNode(running: Array<"eventlet" | "uwsgi">) {
  const dir = mkdtempSync(join(root, "node-"));
  for (const server of running) writeFileSync(join(dir, server), "");
  const has = (server: string) => existsSync(join(dir, server));
  return {
    has,
    move: (stopCommand = `rm -f '${dir}/eventlet' '${dir}/uwsgi'`) => ({
      stopCommand,
      stoppedCheckCommand: `[ ! -e '${dir}/eventlet' ] && [ ! -e '${dir}/uwsgi' ]`,
      startCommand: `[ ! -e '${dir}/uwsgi' ] && [ ! -e '${dir}/eventlet' ] && touch '${dir}/uwsgi'`,
    }),
  };
}

function run(script: string) {
  const fastSleep = mkdtempSync(join(root, "bin-"));
  writeFileSync(join(fastSleep, "sleep"), "#!/bin/bash\n", { mode: 0o755 });
  return spawnSync("bash", ["-c", script], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${fastSleep}:${process.env.PATH ?? ""}` },
  });
}

describe("nodeCommands.serverMove: stop and start run for real from every state a rerun finds", () => {
  const cases: Array<[string, Array<"eventlet" | "uwsgi">]> = [
    ["under eventlet (a first run)", ["eventlet"]],
    ["half moved: eventlet stopped, uWSGI not started (a start that failed)", []],
    ["moved already: under uWSGI (a unit replayed after an edit)", ["uwsgi"]],
  ];
  for (const [title, running] of cases) {
    it(`a node ${title}: stop leaves neither server, start leaves it under uWSGI`, () => {
      const n = standInNode(running);
      const config = parsed(withMove(n.move()));
      const stopped = run(buildNodeScript("stop", config, { name: "node-2" }));
      expect(stopped.stderr).toBe("");
      expect(stopped.status).toBe(0);
      expect([n.has("eventlet"), n.has("uwsgi")]).toEqual([false, false]);
      expect(run(buildNodeScript("start", config, { name: "node-2" })).status).toBe(0);
      expect([n.has("eventlet"), n.has("uwsgi")]).toEqual([false, true]);
    });
  }

  it("negative control: a stop that leaves uWSGI running fails the stop step (the check wants both gone)", () => {
    const n = standInNode(["uwsgi"]);
    const config = parsed(withMove(n.move("true")));
    const stopped = run(buildNodeScript("stop", config, { name: "node-2" }));
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toBe(
      "glance is still running on node-2 after the stop command; not upgrading it\n",
    );
    expect(n.has("uwsgi")).toBe(true);
  });
});
