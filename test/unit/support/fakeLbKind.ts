/**
 * The plan's half of a third load-balancer kind that exists only in tests (the steps' half is
 * fakeLoadBalancer.ts): an in-memory pool named in the stack config as
 * `loadBalancer: {type: fake, pool: <name>}`, each node a pool member (`fakeMember`, default its
 * name). Registered by the test that uses it; no production module names it.
 */
import { z } from "zod";
import type { LbKindPlan } from "../../../plan/lb/kind";
import { registerLbKind } from "../../../plan/lb/registry";
import { rolloutFields } from "../../../plan/lb/rollout";
import { registerLoadBalancer } from "../../../steps/lb/registry";
import type { ResolvedNode } from "../../../plan/config";
import { FakeFleet, FakeLoadBalancer, fakeLoadBalancer, FakeTarget } from "./fakeLoadBalancer";

const fakeSchema = z.strictObject({
  type: z.literal("fake"),
  pool: z.string().regex(/^[a-z]+$/, "use the fake pool's name (lower-case letters)"),
  ...rolloutFields,
});

type FakeConfig = z.output<typeof fakeSchema>;

const memberOf = (node: ResolvedNode): string =>
  typeof node.fakeMember === "string" ? node.fakeMember : node.name;

export const fakeLbKind: LbKindPlan<FakeConfig> = {
  type: "fake",
  schema: fakeSchema,
  nodeFields: { fakeMember: { schema: z.string().optional(), names: "fake pool members" } },
  ignoredNodeField: (names) => `a fake pool, which has no ${names}, so it would be ignored: remove it`,
  resolveNodeFields: (node, given) => ({ fakeMember: given.fakeMember ?? node.name }),
  nodeIdentities: (node) => [`fake member ${memberOf(node)}`],
  member: (_lb, node) => memberOf(node),
  problems: (lb) =>
    lb.pool === "forbidden"
      ? ['glance-rolling-upgrade:loadBalancer.pool = "forbidden": the fake pool refuses this name']
      : [],
  acknowledgements: { fakePoolShared: "The fake pool is shared with another service." },
  risks: (lb) => ({
    fakePoolShared:
      lb.pool === "shared"
        ? [
            'glance-rolling-upgrade:loadBalancer.pool = "shared": another service drains it too; set glance-rolling-upgrade:acknowledge.fakePoolShared: true',
          ]
        : [],
  }),
  refineIssue: (issue) => issue,
  describe: (lb) => `fake pool ${lb.pool}`,
  target: (lb, _config, node): FakeTarget => ({ type: "fake", pool: lb.pool, member: memberOf(node) }),
  fleet: (lb, _config, nodes, extra): FakeFleet => ({
    type: "fake",
    pool: lb.pool,
    expected: [...nodes.map(memberOf), ...extra],
  }),
  secrets: () => [],
  alarmsAt: () => ({}),
  provisionedJoin: () => undefined,
};

/** Registers both halves (plan and steps) over `members`; returns the steps' fake and an undo. */
export function registerFakeLb(members: string[]): { fake: FakeLoadBalancer; unregister: () => void } {
  const fake = fakeLoadBalancer(members);
  const undoPlan = registerLbKind(fakeLbKind);
  const undoSteps = registerLoadBalancer("fake", fake);
  return {
    fake,
    unregister: () => {
      undoSteps();
      undoPlan();
    },
  };
}
