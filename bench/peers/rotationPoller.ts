/**
 * Polls a load balancer every ~100 ms until stopped: the series rotation.ts reads. HAProxy's backend
 * through `show stat`; the lab ALB's target group through DescribeTargetHealth (the data plane's own
 * state: what it routes by).
 */
import {
  DescribeTargetHealthCommand,
  type TargetHealthDescription,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import type { LabState } from "../../lab/state";
import { elbv2Client } from "../../steps/aws/clients";
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../../steps/lb/haproxyRuntime";
import { RotationSample, ServerSample } from "./rotation";

export interface RotationPoll {
  /** Stops polling and returns every sample, plus how many polls failed (no answer). */
  stop(): Promise<{ samples: RotationSample[]; errors: number }>;
}

/** Calls `read` every `intervalMs` at most, one call at a time, until stopped. */
export function startPoll(
  read: () => Promise<Record<string, ServerSample>>,
  intervalMs = 100,
  close: () => void = () => undefined,
): RotationPoll {
  const samples: RotationSample[] = [];
  let errors = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const began = Date.now();
      try {
        const servers = await read();
        samples.push({ at: Date.now(), servers });
      } catch {
        errors++;
      }
      // Sequential polls, one every intervalMs at most; a slow answer delays the next, never overlaps it.
      const wait = intervalMs - (Date.now() - began);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      close();
      return { samples, errors };
    },
  };
}

export function startRotationPoll(runtimeApi: string, backend: string, intervalMs = 100): RotationPoll {
  return startPoll(async () => {
    const stats = serverStatsOf(parseStatCsv(await runtimeCommand(runtimeApi, "show stat", 2_000)), backend);
    return Object.fromEntries(stats.map((s) => [s.server, { status: s.status, scur: s.scur }]));
  }, intervalMs);
}

/**
 * One DescribeTargetHealth answer as a sample, by node name: each node's target state, `unused` for
 * a node whose instance is not listed (deregistered and gone). No session count (scur 0): the ALB
 * API has none.
 */
export function albServers(
  descriptions: TargetHealthDescription[],
  instanceIds: Record<string, string>,
): Record<string, ServerSample> {
  return Object.fromEntries(
    Object.entries(instanceIds).map(([node, id]) => {
      const listed = descriptions.find((d) => d.Target?.Id === id);
      return [node, { status: listed?.TargetHealth?.State ?? "unused", scur: 0 }];
    }),
  );
}

export function startAlbRotationPoll(alb: NonNullable<LabState["alb"]>, intervalMs = 100): RotationPoll {
  const client = elbv2Client({ region: alb.region, endpoint: alb.endpoint });
  return startPoll(
    async () => {
      const out = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: alb.targetGroupArn }));
      return albServers(out.TargetHealthDescriptions ?? [], alb.instanceIds);
    },
    intervalMs,
    () => client.destroy(),
  );
}
