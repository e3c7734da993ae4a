/**
 * The floor an orchestrator is measured against: the same step requests the program built (read back
 * from a driver run's state), replayed by a plain Node.js script through `runStep` with no Pulumi,
 * each step starting as soon as the steps it depends on have finished (the engine's own order).
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import type { StepRequest, StepResult, StepSecrets } from "../../steps/protocol";

export interface FloorStep {
  step: string;
  kind: string;
  node?: string;
  request: StepRequest;
  secrets: StepSecrets;
  /** Steps that must finish first (the resource's dependsOn). */
  after: string[];
}

export interface FloorStepTimes {
  step: string;
  startMs: number;
  endMs: number;
  result?: StepResult;
  error?: string;
}

export interface FloorRun {
  /** From spawning the floor's Node.js process until it exited. */
  wallMs: number;
  /** From the first step's start to the last step's end, inside the floor process. */
  stepsMs: number;
  steps: FloorStepTimes[];
}

interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  dependencies?: string[];
}

/** A secret input as `pulumi stack export --show-secrets` prints it. */
function revealed(value: unknown): StepSecrets {
  if (value === undefined || value === null) return {};
  if (typeof value === "object" && "plaintext" in value) {
    return JSON.parse(String((value as { plaintext: unknown }).plaintext)) as StepSecrets;
  }
  if (typeof value === "object" && "ciphertext" in value) {
    throw new Error("the exported state holds encrypted secrets: export it with --show-secrets");
  }
  return value as StepSecrets;
}

/** Every step resource of an exported state, in state order (a topological order), with its dependencies. */
export function floorStepsFromState(exported: unknown): FloorStep[] {
  const resources =
    (exported as { deployment?: { resources?: StateResource[] } }).deployment?.resources ?? [];
  const steps = resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.inputs?.request);
  const stepOfUrn = new Map(steps.map((r) => [r.urn, String(r.inputs?.step)]));
  return steps.map((r) => {
    const inputs = r.inputs as Record<string, unknown>;
    return {
      step: String(inputs.step),
      kind: String(inputs.kind),
      node: typeof inputs.node === "string" ? inputs.node : undefined,
      request: inputs.request as StepRequest,
      secrets: revealed(inputs.secrets),
      after: (r.dependencies ?? []).flatMap((urn) => {
        const step = stepOfUrn.get(urn);
        return step === undefined ? [] : [step];
      }),
    };
  });
}

/** Runs the floor in its own Node.js process (as an operator's script would run), steps on stdin. */
export function runFloor(steps: FloorStep[]): Promise<FloorRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(__dirname, "floorMain.js")], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(JSON.stringify(steps));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) {
        reject(new Error(`the floor script failed (exit ${code}):\n${stderr.slice(-4000)}`));
        return;
      }
      const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Omit<FloorRun, "wallMs">;
      resolve({ ...result, wallMs });
    });
  });
}
