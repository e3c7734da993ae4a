import type { StoredResult } from "./protocol";

/**
 * A step's result from its earlier run for the same release, out of the old state the provider's
 * update gets (a dynamic provider's `olds` are the resource's outputs); undefined for another
 * release or step, or when the earlier run recorded none.
 */
export function earlierResult(
  olds: { step?: unknown; release?: unknown; result?: unknown },
  news: { step: string; release: string },
): StoredResult | undefined {
  if (olds.step !== news.step || olds.release !== news.release) return undefined;
  const result = olds.result;
  return result !== null && typeof result === "object" && !Array.isArray(result)
    ? (result as StoredResult)
    : undefined;
}
