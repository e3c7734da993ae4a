/**
 * The bake: a health check that answers 200 is not proof that a node serves images. After admission,
 * watch the node's real traffic for a window; over the error budget, take it back out and halt.
 */
import { StepContext, StepError } from "./context";
import type { LbTarget } from "./dispatch";
import { albDrain, albTargetHealth } from "./lb/alb";
import { haproxyDrain, haproxyServerState } from "./lb/haproxy";
import { ServerStat } from "./lb/haproxyRuntime";

export interface BakeRequest {
  lb: LbTarget;
  windowSeconds: number;
  errorBudget: number;
  pollIntervalMs?: number;
}

const TAKE_OUT_TIMEOUT_SECONDS = 30;

function errorCounters(stat: ServerStat): { hrsp5xx: number; eresp: number; econ: number } {
  return { hrsp5xx: stat.hrsp5xx, eresp: stat.eresp, econ: stat.econ };
}

async function takeOut(lb: LbTarget, ctx: StepContext): Promise<string> {
  try {
    if (lb.type === "haproxy") {
      await haproxyDrain({ ...lb, minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS }, ctx);
      return `${lb.server} is out of rotation (MAINT)`;
    }
    await albDrain({ ...lb, minHealthy: 0, drainTimeoutSeconds: TAKE_OUT_TIMEOUT_SECONDS }, ctx);
    return `${lb.targetId} is deregistered`;
  } catch (error) {
    return `taking it out of rotation FAILED (${error instanceof Error ? error.message : String(error)}): take it out by hand`;
  }
}

export async function bakeNode(
  request: BakeRequest,
  ctx: StepContext,
): Promise<{ errors: number; seconds: number }> {
  const { lb } = request;
  const interval = request.pollIntervalMs ?? 500;
  const started = Date.now();
  const deadline = started + request.windowSeconds * 1000;
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  if (lb.type === "haproxy") {
    const base = errorCounters(await haproxyServerState(lb));
    ctx.log(`baking ${lb.server} for ${request.windowSeconds} s (budget ${request.errorBudget} errors)`);
    for (;;) {
      const stat = await haproxyServerState(lb);
      const now = errorCounters(stat);
      const delta = {
        hrsp5xx: now.hrsp5xx - base.hrsp5xx,
        eresp: now.eresp - base.eresp,
        econ: now.econ - base.econ,
      };
      const errors = delta.hrsp5xx + delta.eresp + delta.econ;
      const counters = `5xx responses +${delta.hrsp5xx}, response errors +${delta.eresp}, connection errors +${delta.econ}`;
      if (errors > request.errorBudget || !stat.status.startsWith("UP")) {
        const why =
          errors > request.errorBudget
            ? `${counters} (budget ${request.errorBudget})`
            : `its status turned ${stat.status} (${counters})`;
        const left = await takeOut(lb, ctx);
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
  ctx.log(`baking ${lb.targetId} for ${request.windowSeconds} s: it must stay healthy`);
  for (;;) {
    const health = await albTargetHealth(lb);
    if (!health.healthy) {
      const left = await takeOut(lb, ctx);
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
