/**
 * HAProxy as a LoadBalancer: every step opens the load balancer's instances (an SSH forward for a
 * remote runtime API) for its own duration and acts on every backend named on all of them; a single
 * instance or backend is a list of one.
 */
import { StepContext } from "../../context";
import { RuntimeEndpoint, withHaproxyInstances } from "../haproxyEndpoints";
import type { ServerStat } from "../haproxyRuntime";
import type { BakeWatch, LbSecrets, LoadBalancer } from "../loadBalancer";
import { haproxyAdmitAll } from "./admit";
import { haproxyDrainAll, HaproxyDrained } from "./drain";
import { haproxyFleetCheckAll } from "./fleet";
import { HaproxyPoolServer, placesOf, readServerEverywhere } from "./pool";

/**
 * One backend, or every backend that holds the node (an internal and an external VIP's): as the
 * stack config names them, so a one-backend request keeps the shape it always had.
 */
export type HaproxyBackends = string | string[];

/** One node as a step request carries it: its server in each backend of every instance. */
export type HaproxyTarget = {
  type: "haproxy";
  runtimeApis: RuntimeEndpoint[];
  backend: HaproxyBackends;
  server: string;
};

/** The fleet as a step request carries it: the servers each backend of every instance must have, all UP. */
export type HaproxyFleet = {
  type: "haproxy";
  runtimeApis: RuntimeEndpoint[];
  backend: HaproxyBackends;
  expected: string[];
};

function backendList(backend: HaproxyBackends): string[] {
  return typeof backend === "string" ? [backend] : backend;
}

type Membership = Omit<HaproxyTarget, "type">;

export function drainFromHaproxy(
  args: Membership & { minHealthy: number; drainTimeoutSeconds: number; pollIntervalMs?: number },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<HaproxyDrained> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyDrainAll({ ...args, instances: placesOf(instances, backendList(args.backend)) }, ctx),
  );
}

export function admitToHaproxy(
  args: Membership & { healthTimeoutSeconds: number; pollIntervalMs?: number },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyAdmitAll({ ...args, instances: placesOf(instances, backendList(args.backend)) }, ctx),
  );
}

export function checkHaproxyFleet(
  args: { runtimeApis: RuntimeEndpoint[]; backend: HaproxyBackends; expectedServers: string[] },
  sshPrivateKey: string | undefined,
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  return withHaproxyInstances(args.runtimeApis, sshPrivateKey, ctx, (instances) =>
    haproxyFleetCheckAll(
      { expectedServers: args.expectedServers, instances: placesOf(instances, backendList(args.backend)) },
      ctx,
    ),
  );
}

type Counters = { hrsp5xx: number; eresp: number; econ: number };

/** The error counters summed over every backend of every HAProxy instance (each counts only what passed through it). */
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

/** The bake's view of the server: errors counted since the start, and any instance that turned it out. */
async function serverWatch(pool: HaproxyPoolServer, ctx: StepContext): Promise<BakeWatch> {
  const base = errorCounters(await readServerEverywhere(pool));
  return {
    terms: (errorBudget) => ` (budget ${errorBudget} errors)`,
    async read() {
      const stats = await readServerEverywhere(pool);
      const now = errorCounters(stats);
      const delta = {
        hrsp5xx: now.hrsp5xx - base.hrsp5xx,
        eresp: now.eresp - base.eresp,
        econ: now.econ - base.econ,
      };
      const counters = `5xx responses +${delta.hrsp5xx}, response errors +${delta.eresp}, connection errors +${delta.econ}`;
      const errors = delta.hrsp5xx + delta.eresp + delta.econ;
      const notUp = stats.findIndex((stat) => !stat.status.startsWith("UP"));
      if (notUp < 0) return { errors, counters };
      const where = pool.instances.length > 1 ? ` on HAProxy ${pool.instances[notUp].label}` : "";
      return { errors, counters, problem: `its status turned ${stats[notUp].status}${where} (${counters})` };
    },
    async takeOut(bounds) {
      await haproxyDrainAll({ ...pool, ...bounds }, ctx);
      return `${pool.server} is out of rotation (MAINT)`;
    },
  };
}

export const haproxyLoadBalancer: LoadBalancer<HaproxyTarget, HaproxyFleet> = {
  nodeLabel: (target) => target.server,
  alarmRegion: () => ({}),
  async checkFleet(fleet, secrets: LbSecrets, ctx) {
    const { runtimeApis, backend, expected } = fleet;
    return (
      await checkHaproxyFleet({ runtimeApis, backend, expectedServers: expected }, secrets.sshPrivateKey, ctx)
    ).servers;
  },
  async drain({ runtimeApis, backend, server }, bounds, secrets, ctx) {
    const drained = await drainFromHaproxy(
      { runtimeApis, backend, server, ...bounds },
      secrets.sshPrivateKey,
      ctx,
    );
    // What the drain had to wait for, and whether it took the server out of rotation.
    return {
      drainSeconds: drained.drainSeconds,
      alreadyOut: drained.alreadyOut,
      sessionsAtStart: drained.sessionsAtStart,
      inRotationAtStart: drained.inRotationAtStart,
    };
  },
  admit({ runtimeApis, backend, server }, bounds, secrets, ctx) {
    return admitToHaproxy({ runtimeApis, backend, server, ...bounds }, secrets.sshPrivateKey, ctx);
  },
  watch(target, secrets, ctx, bake) {
    return withHaproxyInstances(target.runtimeApis, secrets.sshPrivateKey, ctx, async (instances) =>
      bake(
        await serverWatch(
          { instances: placesOf(instances, backendList(target.backend)), server: target.server },
          ctx,
        ),
      ),
    );
  },
};
