import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";

/** Follows the steps' progress file and prints each new line as it appears. */
export function followProgress(
  file: string,
  print: (line: string) => void,
  intervalMs = 200,
): { stop(): void } {
  let offset = 0;
  let pending = "";
  const drain = () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const fd = openSync(file, "r");
    try {
      const buffer = Buffer.alloc(size - offset);
      readSync(fd, buffer, 0, buffer.length, offset);
      offset = size;
      pending += buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        print((JSON.parse(line) as { message: string }).message);
      } catch {
        print(line);
      }
    }
  };
  const timer = setInterval(drain, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      drain();
    },
  };
}
