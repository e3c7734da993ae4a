/**
 * What the operator reads about a server's drain, admission and fleet check. With one directly
 * reached HAProxy and one backend there is nothing to tell apart, so messages speak of the server
 * alone (as they always have); with several instances or backends, or one reached over SSH, they
 * name each place.
 */
import { StepError } from "../../context";
import type { CapacityDecision } from "../capacity";
import { CapacityRefusal } from "../takeOut";
import type { ServerStat } from "../haproxyRuntime";
import {
  backendsAt,
  currentStates,
  describe,
  HaproxyPlace,
  HaproxyPoolServer,
  InstanceLostError,
  LastSeen,
  serverName,
  statesOf,
} from "./pool";

/** One instance's servers, and whether the server to drain may leave its rotation. */
export interface CapacityView {
  instance: HaproxyPlace;
  servers: ServerStat[];
  decision: CapacityDecision;
}

export type AdmitPhase = "DRAIN" | "UP";

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function isDirect(instance: HaproxyPlace): boolean {
  return instance.api === instance.label;
}

export type Wording = ReturnType<typeof wordingFor>;

export function wordingFor(ref: HaproxyPoolServer) {
  const backends = backendsAt(ref.instances);
  const name =
    backends.length === 1
      ? serverName({ backend: backends[0], server: ref.server })
      : `${ref.server} (backends ${backends.join(", ")})`;
  const several = !(ref.instances.length === 1 && isDirect(ref.instances[0]));
  const only = (lastSeen: LastSeen): ServerStat => lastSeen.get(ref.instances[0]) as ServerStat;
  const place = backends.length > 1 ? "HAProxy backend" : "HAProxy instance";
  const onEvery = several ? ` on every ${place}` : "";
  const onCount = (count: number): string => (several ? ` on ${plural(count, place)}` : "");
  const eachInstance = (text: string): string => (several ? text : "");
  /** The runtime API command(s) that put the server back in rotation by hand. */
  const readyByHand = backends
    .map((backend) => `"set server ${serverName({ backend, server: ref.server })} state ready"`)
    .join(" and ");
  const backendWord = backends.length > 1 ? "backends" : "backend";

  return {
    /** Where the server is, for a wait that timed out. */
    where: (lastSeen: LastSeen): string =>
      several ? statesOf(ref, lastSeen) : `${name} is ${describe(only(lastSeen))}`,

    alreadyOut: (stat: ServerStat): string =>
      `${name} is already in ${several ? "MAINT" : stat.status}${onEvery}; nothing to drain`,

    tooFewHealthy(worst: CapacityView, views: CapacityView[]): CapacityRefusal {
      const { servingOthers, minHealthy } = worst.decision;
      const perInstance = views
        .map((v) => `${v.instance.label}: ${v.decision.servingOthers.length}`)
        .join("; ");
      return new CapacityRefusal(
        `refusing to drain ${name}: ${several ? `HAProxy ${worst.instance.label} has only` : "only"} ` +
          `${servingOthers.length} other healthy servers ` +
          `(${servingOthers.join(", ") || "none"}), minHealthy is ${minHealthy}` +
          `${eachInstance(` (other servers UP per instance: ${perInstance})`)}; nothing was changed. Bring the ` +
          `other servers back UP${eachInstance(" on every instance")} ` +
          `(show stat${eachInstance(` on ${worst.instance.label}`)}: ` +
          `${worst.servers.map((s) => `${s.server}=${s.status}`).join(", ")}) and rerun.`,
        worst.decision,
      );
    },

    /** Another drain took a server out between this one's look and its DRAIN: it went back (or not). */
    tooFewAfterLeaving(worst: CapacityView, views: CapacityView[], putBack: boolean): CapacityRefusal {
      const { servingOthers, minHealthy } = worst.decision;
      const states = views
        .map(
          (v) =>
            `${several ? `${v.instance.label}: ` : ""}${v.servers.map((s) => `${s.server}=${s.status}`).join(", ")}`,
        )
        .join("; ");
      const message =
        `refusing to drain ${name}: once it was in DRAIN only ${servingOthers.length} other healthy servers ` +
        `(${servingOthers.join(", ") || "none"}) were left${several ? ` on HAProxy ${worst.instance.label}` : ""}, ` +
        `minHealthy is ${minHealthy}: another server left rotation at the same time (show stat: ${states}). `;
      return putBack
        ? new CapacityRefusal(
            message + `It was put back in rotation (state ready). Bring the other servers back UP and rerun.`,
            worst.decision,
          )
        : new CapacityRefusal(
            message +
              `Putting it back failed: "set server ${name} state ready"${eachInstance(" on each instance")} by hand.`,
            worst.decision,
            `server ${name} left in DRAIN`,
          );
    },

    setToDrain: (pending: number, sessions: number, lastSeen: LastSeen, timeoutSeconds: number): string =>
      `${name} set to DRAIN${onCount(pending)} with ${sessions} session(s) in flight` +
      `${eachInstance(` (${statesOf(ref, lastSeen)})`)}; waiting up to ${timeoutSeconds} s`,

    async lostWhileDraining(
      error: InstanceLostError,
      inState: string,
      lastSeen: LastSeen,
    ): Promise<StepError> {
      if (!several) {
        return new StepError(
          `lost the HAProxy runtime API while watching ${name} (last seen ${describe(only(lastSeen))}): ` +
            error.reason,
          `server ${name} left in ${inState}`,
        );
      }
      const states = await currentStates(ref, lastSeen);
      return new StepError(
        `lost the HAProxy runtime API of ${error.instance.label} while draining ${name} (${error.reason}). ` +
          `Where each instance holds ${ref.server}: ${states}. It takes no new requests from the instances that ` +
          `hold it in DRAIN or MAINT. Restore that runtime API and rerun: the drain resumes on every instance ` +
          `(or put it back by hand with ${readyByHand} on each instance).`,
        `server ${name} left in ${inState} where reachable (${states})`,
      );
    },

    drainTimedOut(stopped: string, inState: string, lastSeen: LastSeen, timeoutSeconds: number): StepError {
      const open = several ? "sessions" : `${only(lastSeen).scur} session(s)`;
      const states = statesOf(ref, lastSeen);
      return new StepError(
        `drain of ${name} did not finish within ${timeoutSeconds} s (${stopped}); the server is left in ` +
          `${inState}${eachInstance(" on every instance")} with ${open} still open, taking no new requests` +
          `${eachInstance(` (${states})`)}. Rerun to resume the drain once the long requests end (or raise ` +
          `drainTimeoutSeconds); ${readyByHand}${eachInstance(" on each instance")} puts it ` +
          `back in rotation.`,
        several
          ? `server ${name} left in ${inState} (${states})`
          : `server ${name} left in ${inState}, ${open} still open`,
      );
    },

    drained: (seconds: number): string =>
      `${name} drained in ${seconds.toFixed(2)} s and set to MAINT${onCount(ref.instances.length)}`,

    alreadyUp: (): string => `${name} is already UP${onEvery}; nothing to admit`,

    healthForcedDown: (before: ServerStat, pending: number): string =>
      several
        ? `${name} in DRAIN with health forced down${onCount(pending)}; waiting for their health checks`
        : `${name} out of ${before.status}, in DRAIN with health forced down; waiting for HAProxy's health checks`,

    healthCheckFailed: (stopped: string, timeoutSeconds: number): string =>
      several
        ? `it did not pass HAProxy's health check within ${timeoutSeconds} s on every instance: ${stopped}`
        : stopped,

    lostWhileAdmitting: (error: InstanceLostError): string =>
      several
        ? `lost the HAProxy runtime API of ${error.instance.label}: ${error.reason}`
        : `lost the HAProxy runtime API while watching ${name}: ${error.reason}`,

    /** The admission failed and the server went back to MAINT, except on `notBack`. */
    async notAdmitted(
      why: string,
      phase: AdmitPhase,
      lastSeen: LastSeen,
      notBack: Array<{ instance: HaproxyPlace; reason: string }>,
      timeoutSeconds: number,
    ): Promise<StepError> {
      if (!several) {
        const seen = `${why}; last seen ${describe(only(lastSeen))}`;
        if (notBack.length > 0) {
          return new StepError(
            `${name} did not pass HAProxy's health check (${seen}) and putting it back in MAINT failed: ` +
              notBack[0].reason,
            phase === "DRAIN"
              ? `server ${name} left out of rotation in DRAIN (weight 0)`
              : `server ${name} left in READY (in rotation if HAProxy sees it UP)`,
          );
        }
        return new StepError(
          `${name} did not pass HAProxy's health check within ${timeoutSeconds} s (${seen}); it was put back in ` +
            `MAINT and stays out of rotation. Check the node's health endpoint and its logs, then rerun.`,
        );
      }
      const states = await currentStates(ref, lastSeen);
      if (notBack.length > 0) {
        return new StepError(
          `${name} was not admitted (${why}) and putting it back in MAINT failed on ` +
            `${notBack.map((n) => n.instance.label).join(", ")}; where each instance holds it: ${states}. ` +
            `Restore that runtime API, then rerun or set it to MAINT by hand.`,
          `server ${name} not back in MAINT everywhere (${states})`,
        );
      }
      return new StepError(
        `${name} was not admitted (${why}); it was put back in MAINT on every HAProxy instance and stays out of ` +
          `rotation (${states}). Check the node's health endpoint and its logs, then rerun.`,
      );
    },

    backInMaint: (): string =>
      several
        ? `${name} put back in MAINT${onEvery}`
        : `${name} put back in MAINT: its health check did not pass`,

    admitted: (seconds: number): string =>
      `${name} passed ${several ? "the health checks of every HAProxy instance" : "its health checks"} and is UP ` +
      `in rotation after ${seconds.toFixed(2)} s`,

    fleetProblem: (instance: HaproxyPlace, problem: string): string =>
      several ? `${instance.label}: ${problem}` : problem,

    notTheFleet: (problems: string[]): StepError =>
      new StepError(
        `HAProxy ${backendWord} ${backends.map((b) => `"${b}"`).join(", ")} ${backends.length > 1 ? "are" : "is"} ` +
          `not exactly the upgraded fleet, all UP${eachInstance(", on every instance")}: ` +
          `${problems.join("; ")}. Remove unexpected servers from the backend or add them to the fleet, bring every ` +
          `node UP${eachInstance(" on every instance")}, then rerun.`,
      ),

    fleetChecked: (servers: number): string =>
      `${backendWord} ${backends.join(", ")}: ${servers} servers, all expected and UP${onCount(ref.instances.length)}`,
  };
}
