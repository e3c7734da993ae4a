/** The three peers, each as a procedure measurePeer can run on a fresh lab. */
import * as path from "node:path";
import { LabState } from "../../lab/lab";
import { drainStarts } from "../../lab/load/verdict";
import { kollaStyleUpgrade } from "../../lab/sequences/kollaStyle";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { BenchStack, DriverRun } from "../support/benchStack";
import { busyMs, windowsFromTimeline } from "../support/gaps";
import { ALB_PLAYBOOK, DEREGISTER_TASK, DRAIN_TASK, runPlaybook, STOP_TASK, writeInventory } from "./ansible";
import { playbookAlbProblems, playbookDrainProblems } from "./checks";
import { Procedure } from "./measure";
import { PeerName } from "./render";

const tail = (text: string, lines = 30) => text.trim().split("\n").slice(-lines).join("\n");

export function playbookProcedure(venv: string, runDir: string): Procedure {
  return {
    peer: "ansible playbook",
    async run(lab: LabState) {
      const inventory = writeInventory(lab, path.join(runDir, "inventory.yml"));
      const run = await runPlaybook(venv, inventory, runDir);
      const nodes = lab.nodes.map((n) => n.name);
      const drains = run.tasks.filter((t) => t.task === DRAIN_TASK && !t.failed);
      const failed = run.tasks.filter((t) => t.failed).map((t) => `${t.host}: "${t.task}" failed`);
      return {
        wallMs: run.wallMs,
        problems:
          run.code === 0
            ? []
            : [
                `ansible-playbook exited ${run.code} (${failed.join("; ") || "no task failed"}):\n${tail(run.stderr)}`,
              ],
        drains: drains.map((t) => ({ server: t.host, at: t.startedAt })),
        drainWaitMs: Object.fromEntries(drains.map((t) => [t.host, t.ms])),
        check: (samples) =>
          playbookDrainProblems(nodes, run.tasks, samples, { drainTask: DRAIN_TASK, stopTask: STOP_TASK }),
        notes: [
          `playbook: ${run.tasks.length} task runs; per node (own timings): ` +
            nodes
              .map((n) => {
                const of = (task: string) => run.tasks.filter((t) => t.host === n && t.task === task).pop();
                const ms = (task: string) => ((of(task)?.ms ?? 0) / 1000).toFixed(2);
                return `${n} drain ${ms(DRAIN_TASK)} s, health ${ms("Wait for the health URL")} s, enable ${ms("Enable in HAProxy (wait until UP)")} s`;
              })
              .join("; "),
          `playbook output: ${runDir}`,
        ],
      };
    },
  };
}

/**
 * The same upgrade with the ALB rotation (bench/peers/upgrade-alb.yml: community.aws.elb_target,
 * deregister and wait until unused, register and wait until healthy), on a lab with the lab ALB.
 */
export function playbookAlbProcedure(venv: string, runDir: string): Procedure {
  return {
    peer: "ansible playbook",
    async run(lab: LabState) {
      const alb = lab.alb;
      if (alb === undefined) throw new Error("the ALB playbook needs a lab with the lab ALB");
      const inventory = writeInventory(lab, path.join(runDir, "inventory-alb.yml"));
      const run = await runPlaybook(venv, inventory, runDir, [], ALB_PLAYBOOK);
      const nodes = lab.nodes.map((n) => n.name);
      const outs = run.tasks.filter((t) => t.task === DEREGISTER_TASK && !t.failed);
      const failed = run.tasks.filter((t) => t.failed).map((t) => `${t.host}: "${t.task}" failed`);
      return {
        wallMs: run.wallMs,
        problems:
          run.code === 0
            ? []
            : [
                `ansible-playbook exited ${run.code} (${failed.join("; ") || "no task failed"}):\n${tail(run.stderr)}\n${tail(run.stdout, 15)}`,
              ],
        drains: outs.map((t) => ({ server: t.host, at: t.startedAt })),
        drainWaitMs: Object.fromEntries(outs.map((t) => [t.host, t.ms])),
        check: (samples) =>
          playbookAlbProblems(nodes, run.tasks, samples, {
            deregisterTask: DEREGISTER_TASK,
            stopTask: STOP_TASK,
            delaySeconds: alb.deregistrationDelaySeconds,
          }),
        notes: [
          `playbook: ${run.tasks.length} task runs; per node (own timings): ` +
            nodes
              .map((n) => {
                const of = (task: string) => run.tasks.filter((t) => t.host === n && t.task === task).pop();
                const ms = (task: string) => ((of(task)?.ms ?? 0) / 1000).toFixed(2);
                return `${n} deregister ${ms(DEREGISTER_TASK)} s, health ${ms("Wait for the health URL")} s, register ${ms("Register in the target group (wait until healthy)")} s`;
              })
              .join("; "),
          `playbook output: ${runDir}`,
        ],
      };
    },
  };
}

/**
 * kolla-ansible's sequence. It manages no load balancer: on the ALB lab it does no deregistration
 * either, and the target group's health checks alone take a stopped node out (`note` says so).
 */
export function kollaProcedure(note?: string): Procedure {
  return {
    peer: "kolla-style",
    async run(lab: LabState) {
      const started = performance.now();
      const phases = await kollaStyleUpgrade(lab);
      return {
        wallMs: performance.now() - started,
        problems: [],
        drains: [],
        drainWaitMs: {},
        notes: [
          ...(note ? [note] : []),
          `phases: ${phases.map((p) => `${p.name} ${((p.endedAt - p.startedAt) / 1000).toFixed(2)} s`).join(", ")}`,
        ],
      };
    },
  };
}

export interface DriverProcedureOptions {
  /** The column it gets; default "driver up". */
  peer?: PeerName;
  /** Set `nodeCommands.prestageCommand` (a lab in the "wheelhouse" upgrade mode only). */
  prestage?: boolean;
  /** The bench stack's name prefix; default "bench-peers". */
  stackPrefix?: string;
  /** The lab's HAProxy (default) or the lab ALB (the lab's local-alb config: its early drain). */
  loadBalancer?: "haproxy" | "alb";
  /** Called with the finished run and its stack (still there), to read more than measurePeer does. */
  inspect?: (up: DriverRun, stack: BenchStack) => void;
}

/** The driver's `up` on a bench stack made for the lab (no bake: the playbook has none either). */
export function driverProcedure(keep: boolean, opts: DriverProcedureOptions = {}): Procedure {
  return {
    peer: opts.peer ?? "driver up",
    async run(lab: LabState) {
      const stack = new BenchStack(
        opts.stackPrefix ?? "bench-peers",
        labStackConfig(lab, {
          transport: "local",
          prestage: opts.prestage,
          loadBalancer: opts.loadBalancer,
        }),
        LAB_SECRETS,
      );
      try {
        const up = await stack.driver("up");
        opts.inspect?.(up, stack);
        const drainEnds = up.timeline.filter(
          (e) => e.kind === "drain" && e.event === "end" && e.node !== undefined,
        );
        return {
          wallMs: up.wallMs,
          problems:
            up.code === 0 ? [] : [`driver up exited ${up.code}:\n${tail(up.stdout)}\n${tail(up.stderr, 10)}`],
          drains: drainStarts(up.timeline),
          drainWaitMs: Object.fromEntries(drainEnds.map((e) => [e.node ?? "", (e.seconds ?? 0) * 1000])),
          stepsBusyMs: busyMs(windowsFromTimeline(up.timeline).values()),
          notes: [`driver run: ${up.timeline.filter((e) => e.event === "start").length} steps started`],
        };
      } finally {
        if (keep) console.log(`  kept: ${stack.folder}`);
        else stack.remove();
      }
    },
  };
}
