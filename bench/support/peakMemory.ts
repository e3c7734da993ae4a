/**
 * Preloaded into the driver's Node.js process (`node -r .../peakMemory.js`): at exit, writes that
 * process's own peak resident set size (getrusage RUSAGE_SELF) to $BENCH_PEAK_FILE.
 */
import * as fs from "node:fs";

const file = process.env.BENCH_PEAK_FILE;
if (file) {
  process.on("exit", () => {
    fs.writeFileSync(file, JSON.stringify({ maxRssKib: process.resourceUsage().maxRSS }));
  });
}
