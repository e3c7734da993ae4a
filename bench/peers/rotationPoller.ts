/** Polls a HAProxy backend's `show stat` every ~100 ms until stopped: the series rotation.ts reads. */
import { parseStatCsv, runtimeCommand, serverStatsOf } from "../../steps/lb/haproxyRuntime";
import { RotationSample } from "./rotation";

export interface RotationPoll {
  /** Stops polling and returns every sample, plus how many polls failed (HAProxy did not answer). */
  stop(): Promise<{ samples: RotationSample[]; errors: number }>;
}

export function startRotationPoll(runtimeApi: string, backend: string, intervalMs = 100): RotationPoll {
  const samples: RotationSample[] = [];
  let errors = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const began = Date.now();
      try {
        const stats = serverStatsOf(
          parseStatCsv(await runtimeCommand(runtimeApi, "show stat", 2_000)),
          backend,
        );
        samples.push({
          at: Date.now(),
          servers: Object.fromEntries(stats.map((s) => [s.server, { status: s.status, scur: s.scur }])),
        });
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
      return { samples, errors };
    },
  };
}
