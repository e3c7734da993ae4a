/** Checkers of what the driver's live view and plain mode print (driver/view/). */

/** What makes a frame unfit for a terminal of this size (none: it fits). */
export function unfitLines(lines: readonly string[], columns: number, rows: number): string[] {
  const problems = lines.length > rows ? [`${lines.length} lines on a screen of ${rows} rows`] : [];
  for (const [i, line] of lines.entries()) {
    if ([...line].length > columns)
      problems.push(`line ${i + 1} has ${[...line].length} > ${columns} columns`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(line)) problems.push(`line ${i + 1} carries a control byte`);
  }
  return problems;
}

/**
 * What plain output gets wrong for `steps` (none: it is right): an escape byte anywhere, or a step
 * without exactly one start line and one end line (`done` or `FAILED`).
 */
export function plainProblems(output: string, steps: readonly string[]): string[] {
  const problems = output.includes("\x1b") ? ["an escape byte"] : [];
  const lines = output.split("\n");
  for (const step of steps) {
    const prefix = `  [${step}] +`;
    const starts = lines.filter((l) => l.startsWith(prefix) && / started$/.test(l)).length;
    const ends = lines.filter((l) => l.startsWith(prefix) && / (done|FAILED: .*)$/.test(l)).length;
    const others = lines.filter((l) => l.startsWith(prefix)).length - starts - ends;
    if (starts !== 1) problems.push(`${step}: ${starts} start line(s)`);
    if (ends !== 1) problems.push(`${step}: ${ends} end line(s)`);
    if (others !== 0) problems.push(`${step}: ${others} other line(s)`);
  }
  return problems;
}

/**
 * A terminal as far as the live view drives it: text, newline, carriage return, cursor up (CSI n A),
 * erase line (CSI 2K) and erase below (CSI J). Returns the screen's non-empty lines.
 */
export function screenAfter(output: string): string[] {
  const screen: string[] = [];
  let row = 0;
  let col = 0;
  // eslint-disable-next-line no-control-regex
  const tokens = output.match(/\x1b\[\d*[A-Za-z]|\n|\r|[^\x1b\n\r]+/g) ?? [];
  for (const token of tokens) {
    if (token === "\n") {
      row += 1;
      col = 0;
    } else if (token === "\r") col = 0;
    else if (token.startsWith("\x1b[")) {
      const code = token.at(-1);
      const n = Number(token.slice(2, -1) || "1");
      if (code === "A") row = Math.max(0, row - n);
      else if (code === "K") screen[row] = "";
      else if (code === "J") {
        screen[row] = (screen[row] ?? "").slice(0, col);
        screen.length = Math.min(screen.length, row + 1);
      } else
        throw new Error(`the live view sent ${JSON.stringify(token)}, which this terminal does not know`);
    } else {
      const line = (screen[row] ?? "").padEnd(col);
      screen[row] = line.slice(0, col) + token + line.slice(col + token.length);
      col += token.length;
    }
  }
  while (screen.length > 0 && !screen.at(-1)) screen.pop();
  return screen.map((l) => l ?? "");
}

/** How many times the live view's header is on a captured screen: once when it is redrawn in place. */
export function headerCount(screen: string, title = "up"): number {
  return screen.split("\n").filter((line) => new RegExp(`^${title}: release \\S+ {2}elapsed `).test(line))
    .length;
}
