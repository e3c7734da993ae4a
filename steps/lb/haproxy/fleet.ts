/** The check before `db contract`: on every HAProxy instance, each backend is exactly the upgraded fleet, all UP. */
import { StepContext } from "../../context";
import type { ServerStat } from "../haproxyRuntime";
import { HaproxyPlace, serversAt } from "./pool";
import { wordingFor } from "./wording";

/** How a backend differs from "exactly the expected servers, all UP"; empty when it does not. */
export function fleetProblems(servers: ServerStat[], expectedServers: string[]): string[] {
  const unexpected = servers.filter((s) => !expectedServers.includes(s.server));
  const problems = expectedServers.flatMap((expected) => {
    const stat = servers.find((s) => s.server === expected);
    if (stat === undefined) return [`${expected} is missing`];
    return stat.status === "UP" ? [] : [`${expected} is ${stat.status}`];
  });
  problems.push(...unexpected.map((s) => `${s.server} (${s.status}) is not in the upgraded set`));
  return problems;
}

export async function haproxyFleetCheckAll(
  args: { instances: HaproxyPlace[]; expectedServers: string[] },
  ctx: StepContext,
): Promise<{ servers: string[] }> {
  // The fleet check speaks of the backend, never of one server.
  const say = wordingFor({ ...args, server: "" });
  const views = await Promise.all(
    args.instances.map(async (instance) => ({ instance, servers: await serversAt(instance) })),
  );
  const problems = views.flatMap((v) =>
    fleetProblems(v.servers, args.expectedServers).map((p) => say.fleetProblem(v.instance, p)),
  );
  if (problems.length > 0) throw say.notTheFleet(problems);
  ctx.log(say.fleetChecked(views[0].servers.length));
  return { servers: views[0].servers.map((s) => s.server) };
}
