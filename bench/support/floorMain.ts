/**
 * The floor's process: reads FloorStep[] (JSON) on stdin, runs each through `runStep` once its
 * dependencies are done, and prints the step times as one JSON line. Results flow between steps
 * exactly as the program wires them: the version reports feed fleet-verify, allow-functions feeds
 * restore-setting.
 */
import { silentContext } from "../../steps/context";
import { runStep } from "../../steps/dispatch";
import type { StepRequest, StepResult } from "../../steps/protocol";
import type { FloorStep, FloorStepTimes } from "./floor";

function withUpstreamResults(
  step: FloorStep,
  results: Map<string, StepResult>,
  steps: FloorStep[],
): StepRequest {
  const request = step.request;
  if (request.kind === "fleet-verify") {
    const reported = Object.fromEntries(
      steps
        .filter((s) => s.kind === "version" && s.node !== undefined)
        .map((s) => {
          const result = results.get(s.step);
          return [s.node as string, result && "stdout" in result ? result.stdout : ""];
        }),
    );
    return { ...request, reported };
  }
  if (request.kind === "restore-setting") {
    const allowed = results.get("db/allow-functions");
    const allow = allowed && "previous" in allowed ? allowed : { previous: false, changed: false };
    return { ...request, previous: allow.previous, changed: allow.changed };
  }
  return request;
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const steps = JSON.parse(Buffer.concat(chunks).toString("utf8")) as FloorStep[];
  const origin = performance.now();
  const results = new Map<string, StepResult>();
  const times: FloorStepTimes[] = [];
  const running = new Map<string, Promise<void>>();
  for (const step of steps) {
    const deps = step.after.map((id) => {
      const dep = running.get(id);
      if (!dep) throw new Error(`step ${step.step} depends on ${id}, which comes later in the state`);
      return dep;
    });
    running.set(
      step.step,
      Promise.all(deps).then(async () => {
        const startMs = performance.now() - origin;
        const result = await runStep(withUpstreamResults(step, results, steps), step.secrets, silentContext);
        results.set(step.step, result);
        times.push({ step: step.step, startMs, endMs: performance.now() - origin, result });
      }),
    );
  }
  await Promise.all(running.values());
  const stepsMs = Math.max(...times.map((t) => t.endMs)) - Math.min(...times.map((t) => t.startMs));
  process.stdout.write(`${JSON.stringify({ stepsMs, steps: times })}\n`);
}

main().then(
  // SSH control masters and the like must not keep the floor's process alive.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
