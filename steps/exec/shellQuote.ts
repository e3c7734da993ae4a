/** Single-quotes a value for bash: safe for any input, including quotes, `;`, `$( )` and newlines. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Variables as `export NAME=<quoted>` lines, for a remote script's stdin (sshd drops client env). */
export function exportLines(variables: Record<string, string>): string {
  return Object.entries(variables)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
    .join("");
}
