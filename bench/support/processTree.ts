/**
 * Samples the peak memory (VmHWM) of a process's descendants while it runs: the Pulumi CLI and the
 * dynamic-provider process the driver starts, which its own getrusage does not cover.
 */
import * as fs from "node:fs";

export interface ProcessPeak {
  pid: number;
  /** `pulumi`, `node (provider)`, `bash`, ... */
  name: string;
  peakKib: number;
}

function parentOf(pid: string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function describe(pid: number): { name: string; hwmKib: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    const comm = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "?";
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    const name =
      comm === "node" && /pulumi-language-nodejs|dynamic|provider/.test(cmdline) ? "node (provider)" : comm;
    return hwm ? { name, hwmKib: Number(hwm[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** Polls every `intervalMs` until stop(); returns each descendant's highest VmHWM seen. */
export function sampleDescendants(rootPid: number, intervalMs = 250): { stop(): ProcessPeak[] } {
  const peaks = new Map<number, ProcessPeak>();
  const sample = () => {
    const children = new Map<number, number[]>();
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const parent = parentOf(entry);
      if (parent === undefined) continue;
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    }
    const queue = [...(children.get(rootPid) ?? [])];
    while (queue.length > 0) {
      const pid = queue.shift() as number;
      queue.push(...(children.get(pid) ?? []));
      const seen = describe(pid);
      if (!seen) continue;
      const before = peaks.get(pid);
      if (!before || before.peakKib < seen.hwmKib)
        peaks.set(pid, { pid, name: seen.name, peakKib: seen.hwmKib });
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return [...peaks.values()];
    },
  };
}

/** The highest peak per process name (e.g. the largest `pulumi` process of the run). */
export function peakByName(peaks: ProcessPeak[]): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const p of peaks) byName[p.name] = Math.max(byName[p.name] ?? 0, p.peakKib);
  return byName;
}
