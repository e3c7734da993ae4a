import { z } from "zod";
import { positiveSeconds } from "../config/fields";

/**
 * The rollout's settings, which every load-balancer kind's `loadBalancer` block carries beside its
 * own keys: how long a drain, the imports and a health check may take, and how many nodes may be out.
 */
export const rolloutFields = {
  drainTimeoutSeconds: positiveSeconds(3600).default(300),
  /**
   * After the HTTP drain: how long to wait for the image imports in flight (they run in glance-api,
   * where the load balancer cannot see them); 0 turns the wait off.
   */
  importDrainTimeoutSeconds: z.number().min(0).max(86400).default(1800),
  onImportTimeout: z.enum(["halt", "proceed"]).default("halt"),
  healthTimeoutSeconds: positiveSeconds(3600).default(120),
  maxUnavailable: z.number().int().min(1).default(1),
  minHealthy: z.number().int().min(0).default(1),
};

export type RolloutSettings = z.output<z.ZodObject<typeof rolloutFields>>;

/** The `loadBalancer` block as code outside a kind sees it: its `type` and the rollout's settings. */
export type LbConfig = RolloutSettings & { type: string };
