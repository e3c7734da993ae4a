/**
 * The HAProxy admission, on every instance at once. Leaving MAINT straight for READY would put the
 * server back in rotation on its health from before MAINT; via DRAIN (no new traffic) with health
 * forced down, each instance must see `rise` passing checks first. Wherever it fails, the server
 * goes back to MAINT on every instance: never half in rotation.
 */
import { clockOf, StepContext } from "../../context";
import type { ServerStat } from "../haproxyRuntime";
import {
  HaproxyPoolServer,
  InstanceLostError,
  LastSeen,
  readServerEverywhere,
  setStateEverywhereSettled,
  setStateOn,
  unlessLost,
  watchEverywhere,
} from "./pool";
import { AdmitPhase, wordingFor } from "./wording";

export async function haproxyAdmitAll(
  args: HaproxyPoolServer & { healthTimeoutSeconds: number },
  ctx: StepContext,
): Promise<{ admitSeconds: number }> {
  const say = wordingFor(args);
  const before = await readServerEverywhere(args);
  const lastSeen: LastSeen = new Map(args.instances.map((i, index) => [i, before[index]]));
  const pending = args.instances.filter((_, index) => before[index].status !== "UP");
  if (pending.length === 0) {
    ctx.log(say.alreadyUp());
    return { admitSeconds: 0 };
  }

  const clock = clockOf(ctx);
  const started = clock.now();
  const deadline = started + args.healthTimeoutSeconds * 1000;
  let phase: AdmitPhase = "DRAIN";
  const backToMaint = async (why: string): Promise<never> => {
    const notBack = await setStateEverywhereSettled(args, "state maint");
    const failure = await say.notAdmitted(why, phase, lastSeen, notBack, args.healthTimeoutSeconds);
    if (notBack.length === 0) ctx.log(say.backInMaint());
    throw failure;
  };
  const onLost = (error: InstanceLostError): Promise<never> => backToMaint(say.lostWhileAdmitting(error));
  const waitForStatus = async (status: AdmitPhase): Promise<void> => {
    const stopped = await unlessLost(
      () =>
        watchEverywhere(
          args,
          pending,
          lastSeen,
          { deadline, clock, signal: ctx.signal, describe: () => say.where(lastSeen) },
          (s) => s.status === status,
        ),
      onLost,
    );
    if (stopped !== undefined) await backToMaint(say.healthCheckFailed(stopped, args.healthTimeoutSeconds));
  };
  const setOnPending = (command: string): Promise<void> =>
    unlessLost(() => setStateOn(args, pending, command), onLost);

  await setOnPending("state drain");
  await setOnPending("health down");
  // Status DRAIN (not "DOWN" or "DOWN 1/2") means the health checks have passed `rise` times.
  for (const i of pending) lastSeen.set(i, { ...(lastSeen.get(i) as ServerStat), status: "DOWN" });
  ctx.log(say.healthForcedDown(before[0], pending.length));
  await waitForStatus("DRAIN");
  phase = "UP";
  await setOnPending("state ready");
  await waitForStatus("UP");
  const admitSeconds = (clock.now() - started) / 1000;
  ctx.log(say.admitted(admitSeconds));
  return { admitSeconds };
}
