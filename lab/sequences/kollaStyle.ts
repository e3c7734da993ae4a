/**
 * The rolling upgrade as kolla-ansible's Glance role runs it, on the lab: the first node is stopped
 * (no drain), upgraded, and runs `db expand` and `db migrate`; it starts; then every remaining node
 * is stopped, upgraded and started at once, with no drain; then `db contract`. It cuts whatever is
 * in flight on the nodes it stops: the negative control for the zero-failure check, and a peer to
 * compare this program with.
 */
import { runGlanceNode, waitNodeHealthy } from "../glanceNode";
import type { LabNode, LabState } from "../state";

export interface Phase {
  name: "first node" | "expand and migrate" | "restart the remaining nodes" | "contract";
  startedAt: number;
  endedAt: number;
}

async function glanceNode(lab: LabState, args: string[]): Promise<void> {
  const result = await runGlanceNode(lab.dir, args);
  if (result.code !== 0)
    throw new Error(`glance-node ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
}

async function restart(lab: LabState, node: LabNode, release: string): Promise<void> {
  await glanceNode(lab, ["stop", node.name]);
  await glanceNode(lab, ["switch", node.name, release]);
  await glanceNode(lab, ["start", node.name]);
  await waitNodeHealthy(node);
}

/** Runs the kolla-style sequence to `lab.toRelease`; returns when each phase ran. */
export async function kollaStyleUpgrade(lab: LabState): Promise<Phase[]> {
  const phases: Phase[] = [];
  const phase = async (name: Phase["name"], work: () => Promise<void>): Promise<void> => {
    const startedAt = Date.now();
    await work();
    phases.push({ name, startedAt, endedAt: Date.now() });
  };
  const [first, ...rest] = lab.nodes;
  await phase("first node", async () => {
    await glanceNode(lab, ["stop", first.name]);
    await glanceNode(lab, ["switch", first.name, lab.toRelease]);
  });
  await phase("expand and migrate", async () => {
    await glanceNode(lab, ["manage", first.name, "db", "expand"]);
    await glanceNode(lab, ["manage", first.name, "db", "migrate"]);
    await glanceNode(lab, ["start", first.name]);
    await waitNodeHealthy(first);
  });
  await phase("restart the remaining nodes", async () => {
    await Promise.all(rest.map((node) => restart(lab, node, lab.toRelease)));
  });
  await phase("contract", () => glanceNode(lab, ["manage", first.name, "db", "contract"]));
  return phases;
}
