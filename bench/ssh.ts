/**
 * The native executor's per-step cost over SSH (steps/exec/run.ts runScript against the loopback
 * sshd from lab/services/sshd.ts): riding the multiplexed connection versus a new connection per
 * step (closeSshConnections() between steps), with a local `bash -s` run as the shell-start floor.
 *
 *   npm run build && node dist/bench/ssh.js
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startSshd } from "../lab/services/sshd";
import type { StepContext } from "../steps/context";
import { runScript } from "../steps/exec/run";
import { closeSshConnections } from "../steps/exec/sshMaster";
import type { ScriptRun } from "../steps/exec/types";
import { machineLine, median, millis, printTable, progress, ratioLine, runBench } from "./support/report";

const CYCLES = 15;
const REUSE_PER_CYCLE = 2;
const GOAL = 1 / 5;
/** A node step's script in miniature: the header every node script has, and one command. */
const SCRIPT = "set -euo pipefail\nexport GLANCE_NODE='node-1'\necho ok\n";

/**
 * What sshd's session adds on the node before our `bash -s` starts: the login user's shell runs the
 * command, and bash run by sshd reads ~/.bashrc even when not interactive (it sees SSH_CLIENT).
 * Measured locally as `bash -c true` with SSH_CLIENT set, minus the same without it.
 */
function loginShellRcMs(runs = 10): { rcMs: number; bareMs: number } {
  const time = (env: NodeJS.ProcessEnv) => {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      spawnSync("bash", ["-c", "true"], { env, stdio: "ignore" });
      samples.push(performance.now() - started);
    }
    return median(samples);
  };
  const base = { HOME: os.homedir(), PATH: "/usr/local/bin:/usr/bin:/bin" };
  const bareMs = time(base);
  return { rcMs: time({ ...base, SSH_CLIENT: "127.0.0.1 40000 22" }) - bareMs, bareMs };
}

/** Times one runScript call; also returns the connect time the executor logged, if it opened one. */
async function timedStep(run: ScriptRun): Promise<{ ms: number; connectMs?: number }> {
  let connectMs: number | undefined;
  const ctx: StepContext = {
    log: (line) => {
      const opened = /ssh connection to .* open in ([\d.]+) s/.exec(line);
      if (opened) connectMs = Number(opened[1]) * 1000;
    },
  };
  const started = performance.now();
  const result = await runScript(run, ctx);
  const ms = performance.now() - started;
  if (result.stdout.trim() !== "ok") throw new Error(`unexpected output: ${result.stdout}`);
  return { ms, connectMs };
}

async function main(): Promise<void> {
  console.log(machineLine());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-bench-ssh-"));
  const sshd = await startSshd({ dir });
  const run: ScriptRun = {
    script: SCRIPT,
    transport: "ssh",
    timeoutSeconds: 60,
    ssh: {
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKeyPolicy: "strict",
      knownHostsFile: sshd.knownHostsFile,
    },
  };
  try {
    // Interleaved, so that both variants see the same machine load (it moves a lot on a shared box):
    // each cycle opens a new connection for one step, then rides it for REUSE_PER_CYCLE steps.
    progress(
      `${CYCLES} cycles: 1 step on a new connection, ${REUSE_PER_CYCLE} on the multiplexed one, 1 local`,
    );
    const opening = await timedStep(run);
    const local: number[] = [];
    const reuse: number[] = [];
    const fresh: number[] = [];
    const connects: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      await closeSshConnections();
      const step = await timedStep(run);
      fresh.push(step.ms);
      if (step.connectMs !== undefined) connects.push(step.connectMs);
      for (let j = 0; j < REUSE_PER_CYCLE; j++) reuse.push((await timedStep(run)).ms);
      local.push((await timedStep({ ...run, transport: "local" })).ms);
    }
    await closeSshConnections();
    const shell = loginShellRcMs();

    const row = (label: string, values: number[]) => [
      label,
      String(values.length),
      millis(median(values)),
      millis(Math.min(...values)),
      millis(Math.max(...values)),
    ];
    printTable(
      "Native executor per-step cost (runScript, script `echo ok`), loopback sshd, ed25519 key",
      ["executor", "steps", "median", "min", "max"],
      [
        row("local: bash -s (shell start + process plumbing)", local),
        row("ssh: multiplexed connection (ControlMaster, reused)", reuse),
        row("ssh: new connection per step", fresh),
        row("  of which opening the master (handshake + auth)", connects),
        row("  the first step of a run (opens the master)", [opening.ms]),
        [
          `  in every ssh step: the login user's ~/.bashrc (${os.userInfo().username} here)`,
          "10",
          millis(shell.rcMs),
          "-",
          "-",
        ],
      ],
    );
    const adjusted = (median(reuse) - shell.rcMs) / (median(fresh) - shell.rcMs);
    console.log(
      `without this machine's ~/.bashrc cost (${millis(shell.rcMs)} per session, the node's environment, not ` +
        `the executor's): reuse/new = ${adjusted.toFixed(3)}`,
    );
    const ratio = median(reuse) / median(fresh);
    ratioLine("ssh reuse/new per step", ratio, `<= ${GOAL.toFixed(2)}`, ratio <= GOAL);
  } finally {
    await closeSshConnections();
    await sshd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
