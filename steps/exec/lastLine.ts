/** The last line of a script's stdout, surrounding whitespace of the whole output trimmed first. */
export function lastLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n").at(-1) ?? "";
}
