import * as pulumi from "@pulumi/pulumi";
import { UNCHANGED_COMMAND } from "../../../components/exec/command";
import { stepProviderMethods, type StepInputs } from "../../../steps/execute";
import { canonicalJson } from "../../../steps/identity";
import { runMockProgram, runMockRollback } from "./mockProgram";

/**
 * What a rerun would run, from what the real program registers (under Pulumi's mocks) for the config
 * a state was written with and for the edited one, and from each resource's own diff:
 * - a step of ours: the real step provider's `diff` (steps/execute.ts), as the engine calls it;
 * - a Command resource (mock-level: its plugin cannot run here): the engine's rule for
 *   `replacementTrigger` (a null old value never replaces); any other change of its inputs,
 *   `triggers` included, is an update (the plugin updates rather than replaces when the resource has
 *   an `update` command), which runs that command;
 * - an AWS resource: any change of its inputs is taken to run it (the conservative side).
 */

export const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
const COMMAND_TYPES = ["command:remote:Command", "command:local:Command"];

export interface RegisteredStep {
  name: string;
  type: string;
  inputs: Record<string, unknown>;
  /** A Command resource's replacementTrigger, resolved. */
  trigger?: unknown;
  /** Inputs the engine leaves as they were (`ignoreChanges`). */
  ignored: string[];
}

export interface Registered {
  /** Every step resource, in registration order (the plan's order). */
  steps: RegisteredStep[];
  byName: Map<string, RegisteredStep>;
  /** Each step's direct dependencies. */
  dependsOn: Map<string, string[]>;
}

const isStep = (type: string) => type === DYNAMIC || COMMAND_TYPES.includes(type) || type.startsWith("aws:");

function resolved<T>(value: pulumi.Input<T> | undefined): Promise<T | undefined> {
  return value === undefined
    ? Promise.resolve(undefined)
    : new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as T)));
}

/** Registrations by config: most edit cases start from the same few configs. */
const cache = new Map<string, Registered>();

/** What the program registers for a stack config (the rollback program, given the nodes to roll back). */
export async function registered(
  config: Record<string, unknown>,
  secrets: Parameters<typeof runMockProgram>[1],
  rollbackNodes?: string[],
): Promise<Registered> {
  const key = canonicalJson({ config, secrets, rollbackNodes });
  let result = cache.get(key);
  if (!result) {
    result = await register(config, secrets, rollbackNodes);
    cache.set(key, result);
  }
  return structuredClone(result);
}

async function register(
  config: Record<string, unknown>,
  secrets: Parameters<typeof runMockProgram>[1],
  rollbackNodes?: string[],
): Promise<Registered> {
  const { registrations } =
    rollbackNodes === undefined
      ? await runMockProgram(config, secrets)
      : await runMockRollback(config, secrets ?? {}, rollbackNodes);
  const steps: RegisteredStep[] = [];
  for (const r of registrations.filter((reg) => isStep(reg.type))) {
    const custom = r.opts as pulumi.CustomResourceOptions;
    steps.push({
      name: r.name,
      type: r.type,
      inputs: r.inputs ?? {},
      trigger: COMMAND_TYPES.includes(r.type) ? await resolved(custom.replacementTrigger) : undefined,
      ignored: custom.ignoreChanges ?? [],
    });
  }
  const names = new Set(steps.map((s) => s.name));
  return {
    steps,
    byName: new Map(steps.map((s) => [s.name, s])),
    dependsOn: new Map(registrations.map((r) => [r.name, r.dependsOn.filter((d) => names.has(d))])),
  };
}

export type Operation = "create" | "update" | "replace" | "update-noop" | "same";

/** Whether an operation runs the step (a no-op update of a Command step changes nothing). */
export const runs = (op: Operation) => op !== "same" && op !== "update-noop";

/** The engine's operation on each step of `next` when the state holds `finished` from `previous`. */
export async function operations(
  previous: Registered,
  next: Registered,
  finished: ReadonlySet<string>,
): Promise<Map<string, Operation>> {
  const result = new Map<string, Operation>();
  for (const step of next.steps) {
    const old = finished.has(step.name) ? previous.byName.get(step.name) : undefined;
    result.set(
      step.name,
      old === undefined || old.type !== step.type ? "create" : await operation(old, step),
    );
  }
  return result;
}

async function operation(old: RegisteredStep, step: RegisteredStep): Promise<Operation> {
  if (step.type === DYNAMIC) {
    const diff = await stepProviderMethods.diff(
      step.name,
      old.inputs as unknown as StepInputs,
      step.inputs as unknown as StepInputs,
    );
    return diff.changes ? "update" : "same";
  }
  const changed = (key: string) =>
    canonicalJson(old.inputs[key] ?? null) !== canonicalJson(step.inputs[key] ?? null);
  if (COMMAND_TYPES.includes(step.type)) {
    const triggerReplaces =
      old.trigger !== undefined && old.trigger !== null && step.trigger !== undefined && step.trigger !== null
        ? canonicalJson(old.trigger) !== canonicalJson(step.trigger)
        : false;
    if (triggerReplaces) return "replace";
    const anyChange = Object.keys({ ...old.inputs, ...step.inputs }).some(changed);
    if (!anyChange) return "same";
    return step.inputs.update === UNCHANGED_COMMAND ? "update-noop" : "update";
  }
  const compared = Object.keys({ ...old.inputs, ...step.inputs }).filter(
    (key) => !step.ignored.includes(key),
  );
  return compared.some(changed) ? "update" : "same";
}

/** The steps that finished when a run stopped after the first `count` steps, in the plan's order. */
export function stoppedAfter(previous: Registered, count: number): Set<string> {
  return new Set(previous.steps.slice(0, count).map((s) => s.name));
}
