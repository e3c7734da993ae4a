/**
 * The HAProxy drain, in every backend on every instance at once: the capacity guard counts the
 * worst backend; the server goes to DRAIN everywhere, its sessions end everywhere, then it goes to
 * MAINT everywhere.
 */
import { StepContext } from "../../context";
import type { ServerStat } from "../haproxyRuntime";
import type { Drained } from "../loadBalancer";
import {
  HaproxyPoolServer,
  InstanceLostError,
  LastSeen,
  serverIn,
  serversAt,
  setStateOn,
  unlessLost,
  watchEverywhere,
} from "./pool";
import { CapacityView, wordingFor } from "./wording";

export type HaproxyDrained = Required<Drained>;

export async function haproxyDrainAll(
  args: HaproxyPoolServer & { minHealthy: number; drainTimeoutSeconds: number },
  ctx: StepContext,
): Promise<HaproxyDrained> {
  const say = wordingFor(args);
  const views: CapacityView[] = await Promise.all(
    args.instances.map(async (instance) => {
      const servers = await serversAt(instance);
      const healthyOthers = servers.filter((s) => s.server !== args.server && s.status === "UP");
      return { instance, servers, healthyOthers };
    }),
  );
  const targets = views.map((v) => serverIn(args, v.instance, v.servers));
  const lastSeen: LastSeen = new Map(args.instances.map((i, index) => [i, targets[index]]));
  const sessionsAtStart = targets.reduce((sum, target) => sum + target.scur, 0);
  const pending = args.instances.filter((_, index) => !targets[index].status.startsWith("MAINT"));
  if (pending.length === 0) {
    ctx.log(say.alreadyOut(targets[0]));
    return { drainSeconds: 0, sessionsAtStart, alreadyOut: true, inRotationAtStart: false };
  }

  const worst = views.reduce((a, b) => (b.healthyOthers.length < a.healthyOthers.length ? b : a));
  if (worst.healthyOthers.length < args.minHealthy) throw say.tooFewHealthy(worst, views, args.minHealthy);

  const started = Date.now();
  const deadline = started + args.drainTimeoutSeconds * 1000;
  const lost = async (error: InstanceLostError, inState: string): Promise<never> => {
    throw await say.lostWhileDraining(error, inState, lastSeen);
  };
  const waitForNoSessions = async (inState: "DRAIN" | "MAINT"): Promise<void> => {
    const stopped = await unlessLost(
      () =>
        watchEverywhere(
          args,
          args.instances,
          lastSeen,
          { deadline, signal: ctx.signal, describe: () => say.where(lastSeen) },
          (s) => s.scur === 0,
        ),
      (error) => lost(error, inState),
    );
    if (stopped !== undefined) throw say.drainTimedOut(stopped, inState, lastSeen, args.drainTimeoutSeconds);
  };
  const nowIn = (status: string): void => {
    for (const i of pending) lastSeen.set(i, { ...(lastSeen.get(i) as ServerStat), status });
  };

  await unlessLost(
    () => setStateOn(args, pending, "state drain"),
    (error) => lost(error, "DRAIN"),
  );
  nowIn("DRAIN");
  ctx.log(say.setToDrain(pending.length, sessionsAtStart, lastSeen, args.drainTimeoutSeconds));
  await waitForNoSessions("DRAIN");
  await unlessLost(
    () => setStateOn(args, pending, "state maint"),
    (error) => lost(error, "DRAIN or MAINT"),
  );
  nowIn("MAINT");
  // A session that arrived through persistence between the last poll and MAINT still finishes.
  await waitForNoSessions("MAINT");
  const drainSeconds = (Date.now() - started) / 1000;
  ctx.log(say.drained(drainSeconds));
  // A rerun may find the server already in DRAIN (a drain that was cut short): it was not in rotation.
  const inRotationAtStart = targets.some((target) => target.status.startsWith("UP"));
  return { drainSeconds, sessionsAtStart, alreadyOut: false, inRotationAtStart };
}
