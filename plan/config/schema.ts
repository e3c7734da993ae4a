import { z } from "zod";
import { databaseSchema, backupSchema } from "./databaseSchema";
import { eachOnce, packageVersion, release } from "./fields";
import {
  glanceConfigSchema,
  newNodeSchema,
  nodeCommandsSchema,
  nodeSchemaOf,
  ParsedNode,
  sshSchema,
} from "./fleetSchema";
import type { LbKindPlan } from "../lb/kind";
import { builtInLbKinds, lbKinds, lbKindsGeneration } from "../lb/registry";
import type { LbConfig } from "../lb/rollout";

/** The whole stack config, block by block (each block's schema in its own module). */

/** CloudWatch's own rule for alarm names; one DescribeAlarms call reads up to 100 of them. */
const alarmNames = z
  .array(
    z
      .string()
      .min(1, "must not be empty")
      .max(255, "use at most 255 characters (CloudWatch's limit)")
      // eslint-disable-next-line no-control-regex
      .regex(/^[^\u0000-\u001f\u007f]*$/, "use the CloudWatch alarm's name: no control characters"),
  )
  .max(100, "list at most 100 alarms (one DescribeAlarms call)")
  .superRefine(eachOnce("bake.alarmNames", "alarm"));

/**
 * The `loadBalancer` block: one variant per kind, told apart by `type` (each kind's own schema,
 * plan/lb/<kind>.ts).
 */
function loadBalancerSchemaOf(kinds: readonly LbKindPlan[]): z.ZodType<LbConfig> {
  const variants = kinds.map((kind) => kind.schema) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<string> }>,
    ...Array<z.ZodObject<{ type: z.ZodLiteral<string> }>>,
  ];
  return z.discriminatedUnion("type", variants) as unknown as z.ZodType<LbConfig>;
}

/** The risks every stack may acknowledge, whatever its load balancer. */
const sharedAcknowledgements = {
  /** loadBalancer.minHealthy 0: a drain may take the last healthy node out (an outage). */
  minHealthyZero: z.boolean().optional(),
  /** database.tls false to an RDS database: queries and the backup unencrypted. */
  databaseWithoutTls: z.boolean().optional(),
  /** An AWS endpoint override over plain http to a host other than this machine. */
  awsEndpointOverHttp: z.boolean().optional(),
};

/** What `acknowledge` holds: the shared risks, then each kind's own (plan/lb/kind.ts). */
export type Acknowledgements = z.output<z.ZodObject<typeof sharedAcknowledgements>> & {
  readonly [kindRisk: string]: boolean | undefined;
};

function acknowledgeSchemaOf(kinds: readonly LbKindPlan[]): z.ZodType<Acknowledgements> {
  const ofKinds = Object.fromEntries(
    kinds.flatMap((kind) => Object.keys(kind.acknowledgements).map((name) => [name, z.boolean().optional()])),
  );
  return z
    .strictObject({ ...sharedAcknowledgements, ...ofKinds })
    .default({}) as unknown as z.ZodType<Acknowledgements>;
}

/** The stack config's schema with these load-balancer kinds. */
function stackSchemaOf(
  loadBalancer: z.ZodType<LbConfig>,
  node: z.ZodType<ParsedNode>,
  acknowledge: z.ZodType<Acknowledgements>,
) {
  return z.strictObject({
    targetRelease: release,
    /**
     * What `versionCommand` prints on a node running the target release, e.g. 28.2.0: exactly, or
     * followed by a separator and more (28.2.0-0ubuntu1~cloud0).
     */
    targetVersion: packageVersion("28.2.0"),
    /** native: the project's own runner over OpenSSH (or locally); command: @pulumi/command (its plugin). */
    exec: z.enum(["native", "command"]).default("native"),
    nodes: z.array(node).min(1, "list at least one node"),
    newNode: newNodeSchema,
    ssh: sshSchema.optional(),
    loadBalancer,
    database: databaseSchema,
    backup: backupSchema,
    nodeCommands: nodeCommandsSchema.default(nodeCommandsSchema.parse({})),
    /** The NEW NODE's glance-api config files, checked against the new release before any schema change. */
    glanceConfig: glanceConfigSchema.default(glanceConfigSchema.parse({})),
    /**
     * Bake: after each admission, watch the admitted node for windowSeconds before the next wave drains
     * (HAProxy: its 5xx responses and connection/response errors must stay within errorBudget; ALB: the
     * target must stay healthy). Any CloudWatch alarm in alarmNames must stay out of ALARM too, with
     * either load balancer. Off with 0; over budget, the node is drained back out and the chain halts.
     */
    bake: z
      .strictObject({
        windowSeconds: z.number().int().min(0).max(3600).default(0),
        errorBudget: z.number().int().min(0).default(0),
        alarmNames: alarmNames.default([]),
      })
      .refine((bake) => bake.alarmNames.length === 0 || bake.windowSeconds > 0, {
        path: ["windowSeconds"],
        message:
          "alarmNames is set but the bake is off (windowSeconds 0), so no alarm would be watched: set windowSeconds (e.g. 60) or remove alarmNames",
      })
      .default({ windowSeconds: 0, errorBudget: 0, alarmNames: [] }),
    /**
     * A checkpoint: stop after the NEW NODE ("newNode") or after wave N, with the fleet serving, until
     * the operator approves by setting approvedRelease to the target release. After the last wave, it
     * holds db contract (which rollback cannot undo) with every node on the new release.
     */
    pauseAfter: z.union([z.literal("newNode"), z.number().int().min(1)]).optional(),
    /** The release the operator approved past the checkpoint (`driver approve` sets it). */
    approvedRelease: release.optional(),
    /**
     * Risks the operator accepts by name (plan/config/riskChecks.ts): each key allows one setting the
     * config check otherwise refuses, and is refused itself when nothing in the config needs it.
     */
    acknowledge,
    /** The release nodes return to with the driver's `rollback` (allowed until db contract has run). */
    rollbackTo: z
      .strictObject({
        release,
        version: packageVersion("27.1.1"),
      })
      .optional(),
  });
}

/** The stack config's schema with the built-in load-balancer kinds: what a reader (or a test) walks. */
export const stackSchema = stackSchemaOf(
  loadBalancerSchemaOf(builtInLbKinds()),
  nodeSchemaOf(builtInLbKinds()),
  acknowledgeSchemaOf(builtInLbKinds()),
);

let current: { generation: number; schema: typeof stackSchema } | undefined;

/** The schema the parser uses: every kind registered now (a test may add one). */
export function currentStackSchema(): typeof stackSchema {
  if (current?.generation !== lbKindsGeneration()) {
    const kinds = lbKinds();
    current = {
      generation: lbKindsGeneration(),
      schema: stackSchemaOf(loadBalancerSchemaOf(kinds), nodeSchemaOf(kinds), acknowledgeSchemaOf(kinds)),
    };
  }
  return current.schema;
}

export type StackInput = z.input<typeof stackSchema>;
export type ParsedStack = z.output<typeof stackSchema>;
