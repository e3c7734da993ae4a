/**
 * The bake: a health check that answers 200 is not proof that a node serves images. After admission,
 * watch the node's real traffic for a window; over the error budget, take it back out and halt.
 */
import { StepContext, StepError } from "./context";
import type { LbTarget, StepSecrets } from "./dispatch";
import { albDrain, albTargetHealth } from "./lb/alb";
import { HaproxyInstance, withHaproxyInstances } from "./lb/haproxyEndpoints";
import { haproxyDrainAll, readServerEverywhere } from "./lb/haproxyInstances";
import { ServerStat } from "./lb/haproxyRuntime";

export interface BakeRequest {
  lb: LbTarget;
  windowSeconds: number;
  errorBudget: number;
  pollIntervalMs?: number;
}

const TAKE_OUT_TIMEOUT_SECONDS = 30;

type Counters = { hrsp5xx: number; eresp: number; econ: number };

/** The error counters summed over every HAProxy instance (each counts only what passed through it). */
function errorCounters(stats: ServerStat[]): Counters {
  return stats.reduce<Counters>(
    (sum, stat) => ({
      hrsp5xx: sum.hrsp5xx + stat.hrsp5xx,
      eresp: sum.eresp + stat.eresp,
      econ: sum.econ + stat.econ,
    }),
    { hrsp5xx: 0, eresp: 0, econ: 0 },
  );
}

async function takeOut(
  lb: LbTarget,
  instances: HaproxyInstance[] | undefined,
  ctx: StepContext,
): Promise<string> {
  try {
    if (lb.type === "haproxy") {
      await haproxyDrainAll(
        { ...lb, instances: instances ?? [], minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS },
        ctx,
      );
      return `${lb.server} is out of rotation (MAINT)`;
    }
    await albDrain({ ...lb, minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS }, ctx);
    return `${lb.targetId} is deregistered`;
  } catch (error) {
    return `taking it out of rotation FAILED (${error instanceof Error ? error.message : String(error)}): take it out by hand`;
  }
}

async function bakeOnHaproxy(
  request: BakeRequest,
  lb: Extract<LbTarget, { type: "haproxy" }>,
  instances: HaproxyInstance[],
  ctx: StepContext,
): Promise<{ errors: number; seconds: number }> {
  const interval = request.pollIntervalMs ?? 500;
  const started = Date.now();
  const deadline = started + request.windowSeconds * 1000;
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const pool = { instances, backend: lb.backend, server: lb.server };
  const base = errorCounters(await readServerEverywhere(pool));
  ctx.log(`baking ${lb.server} for ${request.windowSeconds} s (budget ${request.errorBudget} errors)`);
  for (;;) {
    const stats = await readServerEverywhere(pool);
    const now = errorCounters(stats);
    const delta = {
      hrsp5xx: now.hrsp5xx - base.hrsp5xx,
      eresp: now.eresp - base.eresp,
      econ: now.econ - base.econ,
    };
    const errors = delta.hrsp5xx + delta.eresp + delta.econ;
    const counters = `5xx responses +${delta.hrsp5xx}, response errors +${delta.eresp}, connection errors +${delta.econ}`;
    const notUp = stats.findIndex((stat) => !stat.status.startsWith("UP"));
    if (errors > request.errorBudget || notUp >= 0) {
      const where = instances.length > 1 && notUp >= 0 ? ` on HAProxy ${instances[notUp].label}` : "";
      const why =
        errors > request.errorBudget
          ? `${counters} (budget ${request.errorBudget})`
          : `its status turned ${stats[notUp].status}${where} (${counters})`;
      const left = await takeOut(lb, instances, ctx);
      throw new StepError(
        `bake of ${lb.server} failed after ${elapsed()} s: ${why}; ${left}; the chain halts`,
        left,
      );
    }
    if (Date.now() >= deadline) {
      ctx.log(`bake passed: ${counters}`);
      return { errors, seconds: (Date.now() - started) / 1000 };
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))),
    );
  }
}

export async function bakeNode(
  request: BakeRequest,
  secrets: Pick<StepSecrets, "sshPrivateKey">,
  ctx: StepContext,
): Promise<{ errors: number; seconds: number }> {
  const { lb } = request;
  if (lb.type === "haproxy") {
    return withHaproxyInstances(lb.runtimeApis, secrets.sshPrivateKey, ctx, (instances) =>
      bakeOnHaproxy(request, lb, instances, ctx),
    );
  }
  const interval = request.pollIntervalMs ?? 500;
  const started = Date.now();
  const deadline = started + request.windowSeconds * 1000;
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  ctx.log(`baking ${lb.targetId} for ${request.windowSeconds} s: it must stay healthy`);
  for (;;) {
    const health = await albTargetHealth(lb);
    if (!health.healthy) {
      const left = await takeOut(lb, undefined, ctx);
      throw new StepError(
        `bake of ${lb.targetId} failed after ${elapsed()} s: target turned ${health.health}; ${left}`,
        left,
      );
    }
    if (Date.now() >= deadline) return { errors: 0, seconds: (Date.now() - started) / 1000 };
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))),
    );
  }
}
