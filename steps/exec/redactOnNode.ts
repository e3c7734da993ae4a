/**
 * For the `command` executor, whose plugin logs every line of a step's output, keeps stdout and
 * stderr as plaintext outputs in the state, and puts the whole output in its error when the step
 * fails: the script redacts its own secrets on the node, before anything leaves it. The same
 * replacement the native runner makes on this machine (steps/exec/run.ts, `[secret]`).
 */
import { REDACTED } from "./run";

const NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Bash that sends the rest of the script's stdout and stderr, each on its own stream, through a
 * filter replacing the value of every named variable with `[secret]`. Names only: the values stay in
 * the environment the secrets arrived in.
 */
export function redactingPreamble(names: string[]): string {
  if (names.length === 0) return "";
  for (const name of names) if (!NAME.test(name)) throw new Error(`not a variable name: ${name}`);
  const replacements = names
    .map((name) => `[ -n "\${${name}:-}" ] && line=\${line//"$${name}"/${REDACTED}}; `)
    .join("");
  return (
    `gru_redact() { local line; while IFS= read -r line || [ -n "$line" ]; do ${replacements}` +
    `printf '%s\\n' "$line"; done; }\n` +
    // The stderr filter inherits the script's stderr before it is redirected.
    `exec > >(gru_redact) 2> >(gru_redact >&2)\n`
  );
}
