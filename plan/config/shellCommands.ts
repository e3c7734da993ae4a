/**
 * An operator's one-line command split into the simple commands bash runs: at every `;`, `&`, `|`
 * (so `&&`, `||` and pipes too) and newline outside quotes, so a check on one command (an apt
 * install and its --download-only) cannot be met by a word of another (`rm -d`). Quotes and
 * backslashes are honoured the way bash reads them; the pieces keep their original text.
 */
export function simpleCommands(line: string): string[] {
  const pieces: string[] = [];
  let current = "";
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      current += c;
    } else if (c === "\\" && i + 1 < line.length) {
      current += c + line[++i];
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      current += c;
    } else if (c === ";" || c === "&" || c === "|" || c === "\n") {
      pieces.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  pieces.push(current);
  return pieces.map((p) => p.trim()).filter((p) => p !== "");
}
