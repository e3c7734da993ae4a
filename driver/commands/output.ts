let write = (text: string): void => {
  process.stdout.write(text);
};

/** One line of the driver's own output. */
export const say = (line: string): void => write(`${line}\n`);

/** Sends the driver's lines to `to` (a live view draws them above itself); returns what undoes it. */
export function redirectSay(to: (text: string) => void): () => void {
  const before = write;
  write = to;
  return () => {
    write = before;
  };
}

/**
 * Prints the engine's own output lines, skipping blank ones and the stack outputs block (the plan
 * and summary, which the driver prints in its own form).
 */
export function engineOutputPrinter(): (text: string) => void {
  let inOutputs = false;
  return (text) => {
    for (const line of text.split("\n")) {
      if (/^\s*Outputs:\s*$/.test(line)) inOutputs = true;
      else if (/^\s*(Resources|Duration):/.test(line)) inOutputs = false;
      if (!inOutputs && line.trim()) say(`  ${line}`);
    }
  };
}

export function firstLines(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // The Automation API's message repeats the whole engine output; keep the diagnostics.
  const diagnostics = text.indexOf("Diagnostics:");
  return (diagnostics >= 0 ? text.slice(diagnostics) : text).split("\n").slice(0, 40).join("\n");
}
