/**
 * Issue 30's suspected finding, settled: a run killed during a schema step leaves that step's
 * glance-manage running on the node (over SSH it runs until its timeout; the provider's reaper ends
 * only local processes), `recover` releases the lock and clears the pending operation, and the next
 * `up` runs the step again. The node script now refuses to start a second one.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNodeScript, schemaLockFile } from "../../steps/node/scripts";
import { runScript } from "../../steps/exec/run";
import type { ScriptRun } from "../../steps/exec/types";
import { haproxyStack, parsed } from "../unit/fixtures";

let tmp: string;
let runner: string;
const started: number[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gru-schema-lock-"));
  runner = path.join(tmp, "runScriptMain.js");
  buildSync({
    entryPoints: [path.join(__dirname, "../support/runScriptMain.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    outfile: runner,
    logLevel: "error",
  });
});

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function waitFor(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("a schema step after a killed run, recover and up", () => {
  it("the killed run's glance-manage keeps running; the step run again refuses to start a second one", async () => {
    const log = path.join(tmp, "manage.log");
    const go = path.join(tmp, "go");
    fs.writeFileSync(log, "");
    // A glance-manage whose expand runs until told (a long ALTER TABLE), writing only to its log.
    const manage = path.join(tmp, "glance-manage");
    fs.writeFileSync(
      manage,
      [
        "#!/bin/bash",
        // Out of the step's process group, as a glance-manage on a remote node is: the provider's
        // reaper ends a local step's own processes when the provider dies (leftBehind.test.ts), but
        // it cannot reach another machine. setsid keeps the pid and the inherited lock descriptor.
        'if [ -z "$GRU_DETACHED" ]; then GRU_DETACHED=1 exec setsid "$0" "$@"; fi',
        `echo "start $$ $*" >> '${log}'`,
        // Ends once told, or once the test's folder is gone (a failed test leaves nothing running).
        `while [ ! -e '${go}' ] && [ -d '${tmp}' ]; do sleep 0.05; done`,
        `echo "end $$" >> '${log}'`,
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const config = parsed(
      haproxyStack(2, {
        database: { name: `gru_lock_it_${process.pid}` },
        nodeCommands: { glanceManageCommand: manage },
      }),
    );
    const run: ScriptRun = {
      script: buildNodeScript("expand", config, { name: "node-1" }),
      transport: "local",
    };
    const starts = () =>
      fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("start "));

    // The run: a provider process running the step, killed mid-step.
    const provider = spawn(process.execPath, [runner, JSON.stringify(run)], { stdio: "ignore" });
    await waitFor(() => starts().length === 1, "the first glance-manage db expand");
    const first = Number(starts()[0].split(" ")[1]);
    started.push(first);
    provider.kill("SIGKILL");
    await new Promise((resolve) => provider.once("exit", resolve));
    expect(alive(first)).toBe(true);

    // `recover` then `up`: the step runs again, on the same node, while the first still runs.
    const again = runScript(run, { log: () => undefined }).then(
      () => "ran",
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    const outcome = await Promise.race([
      again,
      new Promise((resolve) => setTimeout(resolve, 3_000, "still running")),
    ]);
    expect(starts()).toHaveLength(1);
    expect(outcome).toContain("another glance-manage schema step still runs on node-1");

    // Once the first has ended, the step runs (the negative control): its lock went with it.
    fs.writeFileSync(go, "");
    await waitFor(() => !alive(first), "the first glance-manage to end");
    await runScript(run, { log: () => undefined });
    expect(starts()).toHaveLength(2);
    fs.rmSync(schemaLockFile(config.database), { force: true });
  });
});
