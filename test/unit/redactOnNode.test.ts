/**
 * The `command` executor's on-node redaction, run for real under bash: what leaves the node (the
 * plugin's log, its stdout/stderr outputs, its error text) carries `[secret]`, never the value.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { redactingPreamble } from "../../steps/exec/redactOnNode";

// Characters bash patterns and replacements treat specially: all must be taken literally.
const CONNECTION = "mysql+pymysql://glance:p*?[a]&\\x%41@db:3306/glance";

function run(body: string, env: Record<string, string>) {
  // --norc: bash takes a socketpair stdin for sshd's and would read ~/.bashrc.
  const result = spawnSync("bash", ["--norc", "-c", `${redactingPreamble(Object.keys(env))}${body}`], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    encoding: "utf8",
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

describe("redactingPreamble: the script redacts its own secrets on the node", () => {
  it("replaces every occurrence on both streams, keeping them apart, the exit code and a last line without newline", () => {
    const out = run(
      [
        'echo "a $OS_DATABASE__CONNECTION b $OS_DATABASE__CONNECTION"',
        'echo "gru-step-started 2026" >&2',
        'echo "ERROR: could not connect to $OS_DATABASE__CONNECTION" >&2',
        `printf '%s' "last $OS_DATABASE__CONNECTION"`,
        "exit 3",
      ].join("\n"),
      { OS_DATABASE__CONNECTION: CONNECTION },
    );
    expect(out.status).toBe(3);
    expect(out.stdout).toBe("a [secret] b [secret]\nlast [secret]\n");
    expect(out.stderr).toBe("gru-step-started 2026\nERROR: could not connect to [secret]\n");
  });

  it("negative control: without the preamble the same script prints the value", () => {
    const result = spawnSync("bash", ["--norc", "-c", 'echo "$OS_DATABASE__CONNECTION"'], {
      env: { OS_DATABASE__CONNECTION: CONNECTION },
      encoding: "utf8",
    });
    expect(result.stdout).toContain(CONNECTION);
  });

  it("an empty value redacts nothing; no names, no preamble; a bad name is refused", () => {
    expect(run('echo "plain text"', { OS_DATABASE__CONNECTION: "" }).stdout).toBe("plain text\n");
    expect(redactingPreamble([])).toBe("");
    expect(() => redactingPreamble(["A; rm -rf /"])).toThrow(/not a variable name/);
  });
});
