/**
 * The HAProxy drain, in every backend on every instance at once: the capacity guard counts the worst
 * backend (before and again after the server left, steps/lb/takeOut.ts); the server goes to DRAIN
 * everywhere, its sessions end everywhere, then it goes to MAINT everywhere.
 */
import { clockOf, StepContext } from "../../context";
import { mayLeaveRotation, TargetState } from "../capacity";
import type { ServerStat } from "../haproxyRuntime";
import type { Drained } from "../loadBalancer";
import { withFleetLock, worstDecision } from "../takeOut";
import {
  serverIn,
  HaproxyPoolServer,
  InstanceLostError,
  LastSeen,
  serversAt,
  serversAtOrLost,
  setStateOn,
  unlessLost,
  watchEverywhere,
} from "./pool";
import { CapacityView, wordingFor } from "./wording";

export type HaproxyDrained = Required<Omit<Drained, "endedBy" | "idleAtSeconds">>;

/** HAProxy's status as the capacity decision sees it: only UP serves. */
export function targetState(stat: ServerStat): TargetState {
  if (stat.status === "UP") return "serving";
  if (stat.status.startsWith("MAINT")) return "maint";
  if (stat.status === "DRAIN" || stat.status === "NOLB") return "draining";
  return "down";
}

async function capacityViews(
  args: HaproxyPoolServer & { minHealthy: number },
  read: (place: HaproxyPoolServer["instances"][number]) => Promise<ServerStat[]> = serversAt,
): Promise<CapacityView[]> {
  return Promise.all(
    args.instances.map(async (instance) => {
      const servers = await read(instance);
      const fleet = servers.map((s) => ({ name: s.server, state: targetState(s) }));
      return { instance, servers, decision: mayLeaveRotation(fleet, args.server, args.minHealthy) };
    }),
  );
}

function worstOf(views: CapacityView[]): CapacityView {
  return views[worstDecision(views.map((v) => v.decision))];
}

function lockKey(args: HaproxyPoolServer): string {
  return `haproxy ${[...args.instances.map((i) => `${i.label} ${i.backend}`)].sort().join(",")}`;
}

export async function haproxyDrainAll(
  args: HaproxyPoolServer & { minHealthy: number; drainTimeoutSeconds: number },
  ctx: StepContext,
): Promise<HaproxyDrained> {
  const say = wordingFor(args);
  const clock = clockOf(ctx);
  // Read, decide and leave under the lock; then read again, and put the server back if a drain
  // elsewhere took the fleet below minHealthy meanwhile (steps/lb/takeOut.ts).
  const taken = await withFleetLock(lockKey(args), async () => {
    const views = await capacityViews(args);
    const targets = views.map((v) => serverIn(args, v.instance, v.servers));
    const lastSeen: LastSeen = new Map(args.instances.map((i, index) => [i, targets[index]]));
    const pending = args.instances.filter((_, index) => !targets[index].status.startsWith("MAINT"));
    if (pending.length === 0) return { targets, lastSeen, pending, started: clock.now() };
    const worst = worstOf(views);
    if (!worst.decision.mayLeave) throw say.tooFewHealthy(worst, views);
    const started = clock.now();
    await unlessLost(
      () => setStateOn(args, pending, "state drain"),
      async (error) => {
        throw await say.lostWhileDraining(error, "DRAIN", lastSeen);
      },
    );
    // The server is in DRAIN where the command answered: an instance lost from here on is reported
    // as lost while draining, naming where the server was left.
    for (const i of pending) lastSeen.set(i, { ...(lastSeen.get(i) as ServerStat), status: "DRAIN" });
    const after = await unlessLost(
      () => capacityViews(args, serversAtOrLost),
      async (error) => {
        throw await say.lostWhileDraining(error, "DRAIN", lastSeen);
      },
    );
    const worstAfter = worstOf(after);
    if (!worstAfter.decision.mayLeave) {
      const wasServing = pending.filter((_, index) => !["DRAIN", "NOLB"].includes(targets[index].status));
      let putBack = true;
      try {
        await setStateOn(args, wasServing, "state ready");
      } catch {
        putBack = false;
      }
      throw say.tooFewAfterLeaving(worstAfter, after, putBack);
    }
    return { targets, lastSeen, pending, started };
  });
  const { targets, lastSeen, pending, started } = taken;
  const sessionsAtStart = targets.reduce((sum, target) => sum + target.scur, 0);
  if (pending.length === 0) {
    ctx.log(say.alreadyOut(targets[0]));
    return { drainSeconds: 0, sessionsAtStart, alreadyOut: true, inRotationAtStart: false };
  }

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
          { deadline, clock, signal: ctx.signal, describe: () => say.where(lastSeen) },
          (s) => s.scur === 0,
        ),
      (error) => lost(error, inState),
    );
    if (stopped !== undefined) throw say.drainTimedOut(stopped, inState, lastSeen, args.drainTimeoutSeconds);
  };
  const nowIn = (status: string): void => {
    for (const i of pending) lastSeen.set(i, { ...(lastSeen.get(i) as ServerStat), status });
  };

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
  const drainSeconds = (clock.now() - started) / 1000;
  ctx.log(say.drained(drainSeconds));
  // A rerun may find the server already in DRAIN (a drain that was cut short): it was not in rotation.
  const inRotationAtStart = targets.some((target) => target.status.startsWith("UP"));
  return { drainSeconds, sessionsAtStart, alreadyOut: false, inRotationAtStart };
}
