/** The three peers, each as a procedure measurePeer can run on a fresh lab. */
import * as path from "node:path";
import { LabState } from "../../lab/lab";
import { drainStarts } from "../../lab/load/verdict";
import { kollaStyleUpgrade } from "../../lab/sequences/kollaStyle";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { BenchStack, DriverRun } from "../support/benchStack";
import { busyMs, windowsFromTimeline } from "../support/gaps";
import {
  ALB_PLAYBOOK,
  DEREGISTER_TASK,
  DRAIN_TASK,
  PlaybookRun,
  runPlaybook,
  STOP_TASK,
  writeInventory,
} from "./ansible";
import { playbookAlbProblems, playbookDrainProblems } from "./checks";
import { Procedure } from "./measure";
import { PeerName } from "./render";
import type { RotationSample } from "./rotation";

const tail = (text: string, lines = 30) => text.trim().split("\n").slice(-lines).join("\n");

/** How a playbook peer takes a node out and puts it back: its task names, and the proof it did. */
interface PlaybookRotation {
  inventoryFile: string;
  playbook?: string;
  /** The take-out task (whose start is the node's drain) and the put-back task, with their labels. */
  takeOut: { task: string; label: string };
  putBack: { task: string; label: string };
  /** Lines of the playbook's stdout a failure shows beside its stderr (0: none). */
  stdoutLines: number;
  check: (nodes: string[], tasks: PlaybookRun["tasks"], samples: RotationSample[]) => string[];
}

function playbookPeer(
  venv: string,
  runDir: string,
  rotation: (lab: LabState) => PlaybookRotation,
): Procedure {
  return {
    peer: "ansible playbook",
    async run(lab: LabState) {
      const r = rotation(lab);
      const inventory = writeInventory(lab, path.join(runDir, r.inventoryFile));
      const run = await runPlaybook(venv, inventory, runDir, [], r.playbook);
      const nodes = lab.nodes.map((n) => n.name);
      const outs = run.tasks.filter((t) => t.task === r.takeOut.task && !t.failed);
      const failed = run.tasks.filter((t) => t.failed).map((t) => `${t.host}: "${t.task}" failed`);
      const output = tail(run.stderr) + (r.stdoutLines > 0 ? `\n${tail(run.stdout, r.stdoutLines)}` : "");
      return {
        wallMs: run.wallMs,
        problems:
          run.code === 0
            ? []
            : [`ansible-playbook exited ${run.code} (${failed.join("; ") || "no task failed"}):\n${output}`],
        drains: outs.map((t) => ({ server: t.host, at: t.startedAt })),
        drainWaitMs: Object.fromEntries(outs.map((t) => [t.host, t.ms])),
        check: (samples) => r.check(nodes, run.tasks, samples),
        notes: [
          `playbook: ${run.tasks.length} task runs; per node (own timings): ` +
            nodes
              .map((n) => {
                const of = (task: string) => run.tasks.filter((t) => t.host === n && t.task === task).pop();
                const ms = (task: string) => ((of(task)?.ms ?? 0) / 1000).toFixed(2);
                return `${n} ${r.takeOut.label} ${ms(r.takeOut.task)} s, health ${ms("Wait for the health URL")} s, ${r.putBack.label} ${ms(r.putBack.task)} s`;
              })
              .join("; "),
          `playbook output: ${runDir}`,
        ],
      };
    },
  };
}

export function playbookProcedure(venv: string, runDir: string): Procedure {
  return playbookPeer(venv, runDir, () => ({
    inventoryFile: "inventory.yml",
    takeOut: { task: DRAIN_TASK, label: "drain" },
    putBack: { task: "Enable in HAProxy (wait until UP)", label: "enable" },
    stdoutLines: 0,
    check: (nodes, tasks, samples) =>
      playbookDrainProblems(nodes, tasks, samples, { drainTask: DRAIN_TASK, stopTask: STOP_TASK }),
  }));
}

/**
 * The same upgrade with the ALB rotation (bench/peers/upgrade-alb.yml: community.aws.elb_target,
 * deregister and wait until unused, register and wait until healthy), on a lab with the lab ALB.
 */
export function playbookAlbProcedure(venv: string, runDir: string): Procedure {
  return playbookPeer(venv, runDir, (lab) => {
    const alb = lab.alb;
    if (alb === undefined) throw new Error("the ALB playbook needs a lab with the lab ALB");
    return {
      inventoryFile: "inventory-alb.yml",
      playbook: ALB_PLAYBOOK,
      takeOut: { task: DEREGISTER_TASK, label: "deregister" },
      putBack: { task: "Register in the target group (wait until healthy)", label: "register" },
      stdoutLines: 15,
      check: (nodes, tasks, samples) =>
        playbookAlbProblems(nodes, tasks, samples, {
          deregisterTask: DEREGISTER_TASK,
          stopTask: STOP_TASK,
          delaySeconds: alb.deregistrationDelaySeconds,
        }),
    };
  });
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
