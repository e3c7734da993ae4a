/**
 * Generated fleets for the property tests (fast-check) over the ordered plan (planProperties) and
 * the runbook rules (rulesProperties): one arbitrary and one way from a fleet to its plan, so the
 * two files explore the same fleets and a new config knob is generated in one place.
 */
import fc from "fast-check";
import { buildPlan, Plan } from "../../../plan/plan";
import { albProvisionedStack, haproxyStack, parsed } from "../fixtures";

/** The name of the NEW NODE the stack launches (albProvisionedStack). */
export const PROVISIONED_NEW_NODE = "glance-new";

export interface Fleet {
  /** Nodes in the stack's list. */
  nodes: number;
  /** The NEW NODE is launched by the stack (ALB) rather than one of the list (HAProxy). */
  provisioned: boolean;
  newNodeAt: number;
  waveSize: number;
  prestage: boolean;
  bake: boolean;
  checkpoint: number | undefined;
  approved: boolean;
  /** Which node a mutation picks (modulo the candidates). */
  pick: number;
  newNode: string;
  maxUnavailable: number;
  pauseAfter: "newNode" | number | undefined;
}

/**
 * Fleets of `minNodes` to 60 listed nodes, the NEW NODE anywhere in the list (or, with
 * `mayProvision`, launched by the stack; one listed node alone always gets a launched one), waves of
 * any size the config accepts, prestage and bake on or off, a checkpoint after the NEW NODE or any
 * wave, approved or not.
 */
export function fleets(options: { minNodes: number; mayProvision: boolean }): fc.Arbitrary<Fleet> {
  return fc
    .record({
      nodes: fc.integer({ min: options.minNodes, max: 60 }),
      provisioned: options.mayProvision ? fc.boolean() : fc.constant(false),
      newNodeAt: fc.nat(),
      waveSize: fc.nat(),
      prestage: fc.boolean(),
      bake: fc.boolean(),
      checkpoint: fc.option(fc.nat(), { nil: undefined }),
      approved: fc.boolean(),
      pick: fc.nat(),
    })
    .map((f) => {
      // One node alone needs a NEW NODE the stack launches (a fleet of at least 2).
      const provisioned = f.provisioned || f.nodes === 1;
      const fleetSize = f.nodes + (provisioned ? 1 : 0);
      const maxUnavailable = 1 + (f.waveSize % (fleetSize - 1));
      const waves = 1 + Math.ceil((fleetSize - 1) / maxUnavailable);
      const pauseAfter: Fleet["pauseAfter"] =
        f.checkpoint === undefined
          ? undefined
          : f.checkpoint % waves === 0
            ? "newNode"
            : f.checkpoint % waves;
      const newNode = provisioned ? PROVISIONED_NEW_NODE : `node-${1 + (f.newNodeAt % f.nodes)}`;
      return { ...f, provisioned, newNode, maxUnavailable, pauseAfter };
    });
}

/** The plan the program builds for the fleet's stack. */
export function planOf(f: Fleet): Plan {
  const overrides = {
    loadBalancer: { maxUnavailable: f.maxUnavailable },
    ...(f.prestage
      ? { nodeCommands: { prestageCommand: "apt-get install --download-only -y glance-api" } }
      : {}),
    ...(f.bake ? { bake: { windowSeconds: 30 } } : {}),
    ...(f.pauseAfter === undefined ? {} : { pauseAfter: f.pauseAfter }),
    ...(f.approved ? { approvedRelease: "2024.1" } : {}),
  };
  return buildPlan(
    parsed(
      f.provisioned
        ? albProvisionedStack(f.nodes, overrides)
        : haproxyStack(f.nodes, { ...overrides, newNode: { existing: f.newNode } }),
    ),
  );
}
