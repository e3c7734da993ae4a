/**
 * How every benchmark prints: the machine it ran on, small aligned tables, and one final ratio line
 * per goal ("PASS"/"MISS" against the goal the issue sets).
 */
import * as fs from "node:fs";
import * as os from "node:os";

export function seconds(ms: number, digits = 2): string {
  return `${(ms / 1000).toFixed(digits)} s`;
}

export function millis(ms: number, digits = 0): string {
  return `${ms.toFixed(digits)} ms`;
}

export function mebibytes(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function cpuModel(): string {
  try {
    const line = fs
      .readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    return line?.split(":")[1]?.trim() ?? "unknown CPU";
  } catch {
    return os.cpus()[0]?.model ?? "unknown CPU";
  }
}

/** One line describing the machine and how busy it is right now (other work inflates every figure). */
export function machineLine(): string {
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  return (
    `machine: ${os.cpus().length} x ${cpuModel()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `node ${process.version}; load average ${load}`
  );
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** Prints rows as a table whose columns are as wide as their widest cell. */
export function printTable(title: string, headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  console.log(`\n${title}`);
  console.log(line(headers));
  console.log(
    `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
  );
  for (const row of rows) console.log(line(row));
}

/** The final line of a benchmark: the measured ratio against its goal. */
export function ratioLine(label: string, value: number, goal: string, met: boolean): string {
  const line = `RATIO ${label} = ${value.toFixed(3)} (goal ${goal}): ${met ? "PASS" : "MISS"}`;
  console.log(line);
  return line;
}

export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Runs a bench's main and exits: with the code it set (`process.exitCode`, e.g. 1 on a MISS), 0
 * otherwise, or 1 after printing an error it threw. The exit ends handles a bench left open.
 */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
