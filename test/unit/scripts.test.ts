import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpgradeConfig } from "../../plan/config";
import { buildNodeScript, NodeScriptKind, schemaLockFile, secretExports } from "../../steps/node/scripts";
import { shellQuote } from "../../steps/exec/shellQuote";
import {
  albProvisionedStack,
  albStack,
  DB_ADMIN_PASSWORD,
  DB_PASSWORD,
  haproxyStack,
  parsed,
  SSH_PRIVATE_KEY,
} from "./fixtures";

const KINDS: NodeScriptKind[] = [
  "stop",
  "upgrade",
  "start",
  "version",
  "expand",
  "migrate",
  "verify",
  "contract",
];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function requireBash(): void {
  const probe = spawnSync("bash", ["-c", "true"]);
  if (probe.error || probe.status !== 0)
    throw new Error("bash is needed to run the generated scripts; install bash");
}

function bash(script: string, options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const result = spawnSync("bash", ["-c", script], {
    input: options.input ?? "",
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: 20_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let root: string;
let caseCount = 0;

beforeAll(() => {
  requireBash();
  root = mkdtempSync(join(tmpdir(), "scripts-test-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeExecutable(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** A fresh directory of stand-in commands that record their calls in `calls`. */
function standIns(): {
  dir: string;
  calls: () => string[];
  /** Records its name and succeeds from the `succeedOnCall`-th call on. */
  check: (succeedOnCall: number) => string;
  /** A fake glance-manage: `db check` exits with `checkRc`, any other subcommand with `rc[sub] ?? 0`. */
  manage: (checkRc: number, rc?: Record<string, number>) => string;
  /** Appends `word` to the call log. */
  record: (word: string) => string;
  /** A directory with a `sleep` that returns at once and records itself. */
  fastSleepPath: () => string;
} {
  const dir = mkdtempSync(join(root, `case-${(caseCount += 1)}-`));
  const log = join(dir, "calls");
  writeFileSync(log, "");
  return {
    dir,
    calls: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
    check: (succeedOnCall) =>
      writeExecutable(
        join(dir, "check"),
        [
          "#!/bin/bash",
          `n=$(( $(cat '${dir}/count' 2>/dev/null || echo 0) + 1 ))`,
          `echo "$n" > '${dir}/count'`,
          `echo "check $n" >> '${log}'`,
          `[ "$n" -ge ${succeedOnCall} ]`,
          "",
        ].join("\n"),
      ),
    manage: (checkRc, rc = {}) =>
      writeExecutable(
        join(dir, "glance-manage"),
        [
          "#!/bin/bash",
          `echo "glance-manage $*" >> '${log}'`,
          `case "$2" in`,
          `  check) exit ${checkRc} ;;`,
          ...Object.entries(rc).map(([sub, code]) => `  ${sub}) exit ${code} ;;`),
          "esac",
          "exit 0",
          "",
        ].join("\n"),
      ),
    record: (word) => `echo ${word} >> '${log}'`,
    fastSleepPath: () => {
      const bin = join(dir, "bin");
      spawnSync("mkdir", ["-p", bin]);
      writeExecutable(join(bin, "sleep"), `#!/bin/bash\necho "sleep $*" >> '${log}'\n`);
      return bin;
    },
  };
}

function configWith(nodeCommands: Record<string, unknown>): UpgradeConfig {
  return parsed(haproxyStack(2, { nodeCommands }));
}

const node2 = { name: "node-2" };

describe("buildNodeScript: exact text with the default commands", () => {
  const config = parsed(haproxyStack(2));
  const header = [
    "set -euo pipefail",
    "export GLANCE_NODE='node-2'",
    "export GLANCE_RELEASE='2024.1'",
    "export GLANCE_TARGET_VERSION='28.2.0'",
  ];
  const script = (kind: NodeScriptKind): string => buildNodeScript(kind, config, node2);
  const expected = (...body: string[]): string => [...header, ...body, ""].join("\n");
  const lock = [
    `schema_lock='${schemaLockFile(config.database)}'`,
    "if command -v flock >/dev/null 2>&1; then",
    '  exec 9>>"$schema_lock"',
    "  if ! flock -n 9; then",
    '    echo "another glance-manage schema step still runs on $GLANCE_NODE against this database (it holds $schema_lock; a killed run leaves its step running): not starting a second one. Wait until it has ended (pgrep -af glance-manage), then run up again" >&2',
    "    exit 1",
    "  fi",
    "else",
    '  echo "WARNING: no flock on $GLANCE_NODE: a glance-manage left running by a killed run cannot be detected" >&2',
    "fi",
    'run_to_end() { if command -v setsid >/dev/null 2>&1; then setsid -w bash -c "$1"; else bash -c "$1"; fi; }',
  ];

  it("every kind starts with strict mode and the node's exports, and ends with a newline", () => {
    for (const kind of KINDS) {
      const lines = script(kind).split("\n");
      expect(lines.slice(0, 4), kind).toEqual(header);
      expect(script(kind).endsWith("\n"), kind).toBe(true);
    }
  });

  it("stop", () => {
    expect(script("stop")).toBe(
      expected(
        "systemctl stop glance-api",
        "for _ in $(seq 1 120); do",
        '  if ! systemctl is-active --quiet glance-api; then echo "glance stopped on $GLANCE_NODE"; exit 0; fi',
        "  sleep 0.5",
        "done",
        'echo "glance is still running on $GLANCE_NODE after the stop command; not upgrading it" >&2',
        "exit 1",
      ),
    );
    expect(script("stop")).toContain("for _ in $(seq 1 120); do\n");
  });

  it("upgrade", () => {
    expect(script("upgrade")).toBe(
      expected(
        'systemctl mask --runtime glance-api && DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"',
        `version="$(dpkg-query -W -f='\${Version}' glance-common | sed 's/^[0-9]*://')" || { echo "could not read the version on $GLANCE_NODE: versionCommand failed" >&2; exit 1; }`,
        'case "$version" in',
        '  "$GLANCE_TARGET_VERSION"|"$GLANCE_TARGET_VERSION"[!A-Za-z0-9]*) echo "$GLANCE_NODE now has glance $version (release $GLANCE_RELEASE)" ;;',
        `  *) echo "upgrade did not take on $GLANCE_NODE: it reports '$version', expected $GLANCE_TARGET_VERSION" >&2; exit 1 ;;`,
        "esac",
      ),
    );
  });

  it("start and version run the one command", () => {
    expect(script("start")).toBe(
      expected("systemctl unmask --runtime glance-api && systemctl start glance-api"),
    );
    expect(script("version")).toBe(
      expected("dpkg-query -W -f='${Version}' glance-common | sed 's/^[0-9]*://'"),
    );
  });

  it("expand and migrate", () => {
    expect(script("expand")).toBe(expected(...lock, "run_to_end 'glance-manage db expand'"));
    expect(script("migrate")).toBe(expected(...lock, "run_to_end 'glance-manage db migrate'"));
  });

  it("verify", () => {
    expect(script("verify")).toBe(
      expected(
        ...lock,
        "set +e",
        "glance-manage db check",
        "rc=$?",
        "set -e",
        'case "$rc" in',
        '  0|5) echo "migrations verified: db check exit $rc (0 up to date, 5 contract pending)" ;;',
        '  3) echo "db check exit 3: db expand is still pending" >&2; exit 1 ;;',
        '  4) echo "db check exit 4: data migrations are still pending; run db migrate" >&2; exit 1 ;;',
        '  *) echo "db check failed with exit $rc" >&2; exit "$rc" ;;',
        "esac",
      ),
    );
  });

  it("contract", () => {
    expect(script("contract")).toBe(
      expected(
        ...lock,
        "run_to_end 'glance-manage db contract'",
        "set +e",
        "glance-manage db check",
        "rc=$?",
        "set -e",
        'if [ "$rc" -ne 0 ]; then echo "db check after contract exited $rc, expected 0" >&2; exit 1; fi',
      ),
    );
  });

  it("uses the configured commands verbatim", () => {
    const custom = configWith({
      glanceManageCommand: "docker exec glance-api glance-manage",
      startCommand: "docker start glance-api",
      stoppedCheckCommand: 'test -z "$(docker ps -q -f name=glance-api)"',
    });
    expect(buildNodeScript("expand", custom, node2)).toContain(
      "\nrun_to_end 'docker exec glance-api glance-manage db expand'\n",
    );
    expect(buildNodeScript("start", custom, node2)).toContain("\ndocker start glance-api\n");
    expect(buildNodeScript("stop", custom, node2)).toContain(
      '  if test -z "$(docker ps -q -f name=glance-api)"; then echo',
    );
  });

  it("is syntactically valid bash for every kind", () => {
    for (const kind of KINDS) {
      const result = spawnSync("bash", ["-n"], { input: script(kind), encoding: "utf8" });
      expect(result.status, `${kind}: ${result.stderr}`).toBe(0);
    }
  });
});

describe("buildNodeScript: run for real with stand-in commands", () => {
  it("the header's exports reach the commands", () => {
    const config = configWith({ startCommand: 'echo "$GLANCE_NODE|$GLANCE_RELEASE|$GLANCE_TARGET_VERSION"' });
    const run = bash(buildNodeScript("start", config, node2));
    expect(run).toMatchObject({ status: 0, stdout: "node-2|2024.1|28.2.0\n" });
  });

  it("a hostile node name reaches the script as data, not code", () => {
    const s = standIns();
    const marker = join(s.dir, "pwned");
    const hostile = `x'; touch ${marker}; echo '$(touch ${marker})\`touch ${marker}\``;
    const config = configWith({ startCommand: 'printf %s "$GLANCE_NODE"' });
    const run = bash(buildNodeScript("start", config, { name: hostile }));
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(hostile);
    expect(existsSync(marker)).toBe(false);
  });

  describe("stop", () => {
    it("succeeds once the stopped-check passes (2nd call), after the stop command", () => {
      const s = standIns();
      const config = configWith({ stopCommand: s.record("stop"), stoppedCheckCommand: s.check(2) });
      const run = bash(buildNodeScript("stop", config, node2));
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(run.stdout).toBe("glance stopped on node-2\n");
      expect(s.calls()).toEqual(["stop", "check 1", "check 2"]);
    });

    it("fails after 120 checks (0.5 s apart) when glance keeps running", () => {
      const s = standIns();
      const config = configWith({ stopCommand: s.record("stop"), stoppedCheckCommand: s.check(1_000) });
      const started = Date.now();
      const run = bash(buildNodeScript("stop", config, node2), {
        env: { ...process.env, PATH: `${s.fastSleepPath()}:${process.env.PATH ?? ""}` },
      });
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe("glance is still running on node-2 after the stop command; not upgrading it\n");
      const calls = s.calls();
      expect(calls[0]).toBe("stop");
      expect(calls.filter((c) => c.startsWith("check "))).toHaveLength(120);
      expect(calls.filter((c) => c === "sleep 0.5")).toHaveLength(120);
      expect(calls.at(-1)).toBe("sleep 0.5");
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it("fails at once, without checking, when the stop command fails", () => {
      const s = standIns();
      const config = configWith({ stopCommand: "false", stoppedCheckCommand: s.check(1) });
      const run = bash(buildNodeScript("stop", config, node2));
      expect(run.status).toBe(1);
      expect(s.calls()).toEqual([]);
    });
  });

  describe("upgrade", () => {
    it("passes when the node reports the target version (prefix match, e.g. a distro suffix)", () => {
      const s = standIns();
      const config = configWith({
        upgradeCommand: s.record("upgrade"),
        versionCommand: "echo 28.2.0-0ubuntu1~cloud0",
      });
      const run = bash(buildNodeScript("upgrade", config, node2));
      expect(run).toEqual({
        status: 0,
        stdout: "node-2 now has glance 28.2.0-0ubuntu1~cloud0 (release 2024.1)\n",
        stderr: "",
      });
      expect(s.calls()).toEqual(["upgrade"]);
    });

    it("fails when the version does not match", () => {
      const config = configWith({ upgradeCommand: "true", versionCommand: "echo 28.1.0" });
      const run = bash(buildNodeScript("upgrade", config, node2));
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe("upgrade did not take on node-2: it reports '28.1.0', expected 28.2.0\n");
    });

    it("fails when the version only string-prefixes the target (28.2.10 is not 28.2.1): a dotted prefix", () => {
      const config = parsed(
        haproxyStack(2, {
          targetVersion: "28.2.1",
          nodeCommands: { upgradeCommand: "true", versionCommand: "echo 28.2.10" },
        }),
      );
      const run = bash(buildNodeScript("upgrade", config, node2));
      expect(run.status).toBe(1);
      expect(run.stderr).toBe("upgrade did not take on node-2: it reports '28.2.10', expected 28.2.1\n");
      const exact = configWith({ upgradeCommand: "true", versionCommand: "echo 28.2.0" });
      expect(bash(buildNodeScript("upgrade", exact, node2)).status).toBe(0);
    });

    it("fails when the node reports nothing", () => {
      const config = configWith({ upgradeCommand: "true", versionCommand: "printf ''" });
      const run = bash(buildNodeScript("upgrade", config, node2));
      expect(run.status).toBe(1);
      expect(run.stderr).toContain("it reports '', expected 28.2.0");
    });

    it("treats the target version literally, not as a glob", () => {
      const config = parsed(
        haproxyStack(2, {
          targetVersion: "28.2.0",
          nodeCommands: { upgradeCommand: "true", versionCommand: "echo 28x2x0" },
        }),
      );
      expect(bash(buildNodeScript("upgrade", config, node2)).status).toBe(1);
    });

    it("stops before reading the version when the upgrade command fails", () => {
      const s = standIns();
      const config = configWith({ upgradeCommand: "exit 7", versionCommand: s.record("version") });
      const run = bash(buildNodeScript("upgrade", config, node2));
      expect(run.status).toBe(7);
      expect(s.calls()).toEqual([]);
    });
  });

  it("start propagates the start command's failure", () => {
    expect(bash(buildNodeScript("start", configWith({ startCommand: "exit 3" }), node2)).status).toBe(3);
    expect(bash(buildNodeScript("start", configWith({ startCommand: "true" }), node2)).status).toBe(0);
  });

  it("version prints the command's output and fails on a failed pipe stage (pipefail)", () => {
    const ok = bash(
      buildNodeScript("version", configWith({ versionCommand: "echo 1:28.2.0 | sed 's/^[0-9]*://'" }), node2),
    );
    expect(ok).toEqual({ status: 0, stdout: "28.2.0\n", stderr: "" });
    const broken = bash(buildNodeScript("version", configWith({ versionCommand: "false | cat" }), node2));
    expect(broken.status).not.toBe(0);
  });

  it.each([
    ["expand", "glance-manage db expand"],
    ["migrate", "glance-manage db migrate"],
  ] as const)("%s runs `%s` and propagates its failure", (kind, call) => {
    const ok = standIns();
    expect(bash(buildNodeScript(kind, configWith({ glanceManageCommand: ok.manage(0) }), node2)).status).toBe(
      0,
    );
    expect(ok.calls()).toEqual([call]);
    const failing = standIns();
    const run = bash(
      buildNodeScript(kind, configWith({ glanceManageCommand: failing.manage(0, { [kind]: 2 }) }), node2),
    );
    expect(run.status).toBe(2);
  });

  describe("verify", () => {
    it.each([0, 5])("passes on db check exit %i", (rc) => {
      const s = standIns();
      const run = bash(buildNodeScript("verify", configWith({ glanceManageCommand: s.manage(rc) }), node2));
      expect(run).toEqual({
        status: 0,
        stdout: `migrations verified: db check exit ${rc} (0 up to date, 5 contract pending)\n`,
        stderr: "",
      });
      expect(s.calls()).toEqual(["glance-manage db check"]);
    });

    it.each([
      [3, 1, "db check exit 3: db expand is still pending\n"],
      [4, 1, "db check exit 4: data migrations are still pending; run db migrate\n"],
      [1, 1, "db check failed with exit 1\n"],
      [2, 2, "db check failed with exit 2\n"],
    ])("fails on db check exit %i (script exit %i)", (rc, status, message) => {
      const s = standIns();
      const run = bash(buildNodeScript("verify", configWith({ glanceManageCommand: s.manage(rc) }), node2));
      expect(run).toEqual({ status, stdout: "", stderr: message });
    });
  });

  describe("contract", () => {
    it("passes when db check is 0 after the contract", () => {
      const s = standIns();
      const run = bash(buildNodeScript("contract", configWith({ glanceManageCommand: s.manage(0) }), node2));
      expect(run.status).toBe(0);
      expect(s.calls()).toEqual(["glance-manage db contract", "glance-manage db check"]);
    });

    it.each([5, 3, 4, 1])("fails when db check after it exits %i", (rc) => {
      const s = standIns();
      const run = bash(buildNodeScript("contract", configWith({ glanceManageCommand: s.manage(rc) }), node2));
      expect(run.status).toBe(1);
      expect(run.stderr).toBe(`db check after contract exited ${rc}, expected 0\n`);
    });

    it("fails without checking when the contract itself fails", () => {
      const s = standIns();
      const run = bash(
        buildNodeScript("contract", configWith({ glanceManageCommand: s.manage(0, { contract: 1 }) }), node2),
      );
      expect(run.status).toBe(1);
      expect(s.calls()).toEqual(["glance-manage db contract"]);
    });
  });

  it("passes extra arguments of glanceManageCommand through", () => {
    const s = standIns();
    const manage = `${s.manage(0)} --config-file /etc/glance/glance-api.conf`;
    bash(buildNodeScript("expand", configWith({ glanceManageCommand: manage }), node2));
    expect(s.calls()).toEqual(["glance-manage --config-file /etc/glance/glance-api.conf db expand"]);
  });
});

const HOSTILE_VALUES = [
  "",
  "plain",
  "it's",
  "'",
  "''",
  "'\\''",
  '"double" quotes',
  "semi;colon && ls || true | cat > /dev/null",
  "$(touch MARKER)",
  "`touch MARKER`",
  "${HOME} $HOME $0 $$ $? $@",
  "line one\nline two\n",
  "\n",
  "back\\slash\\",
  "tab\tand\rcarriage",
  "!history !! ^a^b",
  "* ? [a-z] ~ {a,b}",
  "-n",
  "%s %d %%",
  " leading and trailing spaces ",
  "größe ✓ 日本",
  "\u0001\u001b[31mescape\u007f",
];

/** The README's apt example for prestageCommand (plan/config/crossChecks.ts). */
const APT_PRESTAGE =
  'DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y "glance-api=2:${GLANCE_TARGET_VERSION}*" "glance-common=2:${GLANCE_TARGET_VERSION}*" "python3-glance=2:${GLANCE_TARGET_VERSION}*"';

describe("buildNodeScript: a schema step beside a glance-manage still running (a killed run's)", () => {
  let holder: ReturnType<typeof spawn> | undefined;
  afterAll(() => {
    holder?.kill("SIGKILL");
  });

  /** A database of its own per test, so its lock file is this test's alone on this machine. */
  const configFor = (manage: string) =>
    parsed(
      haproxyStack(2, {
        database: { name: `gru_lock_test_${process.pid}_${(caseCount += 1)}` },
        nodeCommands: { glanceManageCommand: manage },
      }),
    );

  /** Holds the lock file as a running glance-manage does (on an inherited fd) until killed. */
  async function holdLock(file: string): Promise<ReturnType<typeof spawn>> {
    const child = spawn("bash", ["-c", 'exec 9>>"$1"; flock 9; echo held; exec sleep 60', "_", file], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on("data", (chunk: Buffer) => {
        if (String(chunk).includes("held")) resolve();
      });
      child.once("exit", () => reject(new Error("the lock holder ended before it held the lock")));
    });
    return child;
  }

  it.each(["expand", "migrate", "verify", "contract"] as const)(
    "%s refuses to start while the node's schema lock for the database is held, and runs once it is free",
    async (kind) => {
      const s = standIns();
      const config = configFor(s.manage(0));
      const file = schemaLockFile(config.database);
      holder = await holdLock(file);
      const refused = bash(buildNodeScript(kind, config, node2));
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain("another glance-manage schema step still runs on node-2");
      expect(s.calls()).toEqual([]);
      holder.kill("SIGKILL");
      await new Promise((resolve) => holder?.once("exit", resolve));
      // The negative control: the same script, the lock free.
      expect(bash(buildNodeScript(kind, config, node2)).status).toBe(0);
      expect(s.calls().length).toBeGreaterThan(0);
      rmSync(file, { force: true });
    },
  );

  it("the lock is per database, and only schema steps take it", async () => {
    const s = standIns();
    const config = configFor(s.manage(0));
    const other = configFor(s.manage(0));
    expect(schemaLockFile(other.database)).not.toBe(schemaLockFile(config.database));
    holder = await holdLock(schemaLockFile(config.database));
    expect(bash(buildNodeScript("expand", other, node2)).status).toBe(0);
    expect(bash(buildNodeScript("start", configWith({ startCommand: "true" }), node2)).status).toBe(0);
    holder.kill("SIGKILL");
    rmSync(schemaLockFile(config.database), { force: true });
    rmSync(schemaLockFile(other.database), { force: true });
  });
});

describe("buildNodeScript: prestage (nodeCommands.prestageCommand)", () => {
  it("exact text: the node's exports, the command in a subshell, a failure in the operator's words, then what it did", () => {
    const script = buildNodeScript("prestage", configWith({ prestageCommand: APT_PRESTAGE }), node2);
    expect(script).toBe(
      [
        "set -euo pipefail",
        "export GLANCE_NODE='node-2'",
        "export GLANCE_RELEASE='2024.1'",
        "export GLANCE_TARGET_VERSION='28.2.0'",
        "set +e",
        `( set -e; ${APT_PRESTAGE} )`,
        "rc=$?",
        "set -e",
        'if [ "$rc" -ne 0 ]; then echo "prestageCommand failed on $GLANCE_NODE (exit $rc) before its drain: the node is still in rotation and was not changed by the upgrade; fix the command or the node, then run up again" >&2; exit "$rc"; fi',
        'echo "pre-staged release $GLANCE_RELEASE ($GLANCE_TARGET_VERSION) on $GLANCE_NODE while it still serves (prestageCommand exit 0)"',
        "",
      ].join("\n"),
    );
    expect(spawnSync("bash", ["-n"], { input: script, encoding: "utf8" }).status).toBe(0);
  });

  it("is built only for a stack that sets prestageCommand", () => {
    expect(() => buildNodeScript("prestage", parsed(haproxyStack(2)), node2)).toThrow(
      "a prestage step needs nodeCommands.prestageCommand",
    );
  });

  it("runs the command as written: its quotes and dollars are bash's, the exports expand, and it prints what it did", () => {
    const config = configWith({
      prestageCommand: `printf '%s|%s|%s\\n' "$GLANCE_NODE" "glance-api=2:\${GLANCE_TARGET_VERSION}*" '$GLANCE_RELEASE'`,
    });
    const run = bash(buildNodeScript("prestage", config, node2));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      "node-2|glance-api=2:28.2.0*|$GLANCE_RELEASE\npre-staged release 2024.1 (28.2.0) on node-2 while it still serves (prestageCommand exit 0)\n",
    );
  });

  it("a failing command fails the step with its exit code and says the node is still in rotation; a failed pipe stage counts (pipefail)", () => {
    const failed = bash(
      buildNodeScript("prestage", configWith({ prestageCommand: "echo fetching; exit 100" }), node2),
    );
    expect(failed.status).toBe(100);
    expect(failed.stdout).toBe("fetching\n");
    expect(failed.stderr).toContain(
      "prestageCommand failed on node-2 (exit 100) before its drain: the node is still in rotation",
    );
    const piped = bash(buildNodeScript("prestage", configWith({ prestageCommand: "false | true" }), node2));
    expect(piped.status).toBe(1);
    expect(piped.stdout).toBe("");
    // set -e holds inside the command too: a failing first command of a list fails the step.
    const list = bash(
      buildNodeScript("prestage", configWith({ prestageCommand: "false; echo after" }), node2),
    );
    expect(list.status).toBe(1);
    expect(list.stdout).toBe("");
  });
});

describe("shellQuote", () => {
  it.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v), v]))(
    "round-trips %s byte-exact through bash and sh",
    (_, value) => {
      const s = standIns();
      const text = value.replaceAll("MARKER", join(s.dir, "pwned"));
      const quoted = shellQuote(text);
      expect(quoted.startsWith("'") && quoted.endsWith("'")).toBe(true);
      for (const shell of ["bash", "sh"]) {
        const result = spawnSync(shell, ["-c", `printf %s ${quoted}`]);
        expect(result.status, `${shell}: ${String(result.stderr)}`).toBe(0);
        expect(Buffer.compare(result.stdout, Buffer.from(text, "utf8")), shell).toBe(0);
      }
      expect(existsSync(join(s.dir, "pwned"))).toBe(false);
    },
  );

  it("round-trips all hostile values at once as separate words", () => {
    const quoted = HOSTILE_VALUES.map(shellQuote).join(" ");
    const result = spawnSync("bash", ["-c", `printf '%s\\0' ${quoted}`]);
    expect(result.stdout.toString("utf8").split("\0").slice(0, -1)).toEqual(HOSTILE_VALUES);
  });
});

describe("secretExports", () => {
  const secrets = {
    GLANCE_DB_PASSWORD: DB_PASSWORD,
    GLANCE_DB_ADMIN_PASSWORD: DB_ADMIN_PASSWORD,
    SSH_KEY: SSH_PRIVATE_KEY,
    EMPTY: "",
    QUOTES: `'"'"'`,
  };

  it("is one export line per secret", () => {
    const text = secretExports({ A: "x", B: "it's" });
    expect(text).toBe("export A='x'\nexport B='it'\\''s'\n");
    expect(secretExports({})).toBe("");
  });

  /**
   * Runs `script` with `exports` on stdin through a real pipe, as sshd hands a remote command its
   * stdin (Node's own child stdin is a socket, which `/dev/stdin` cannot be opened on).
   */
  function withStdinPipe(script: string, exports: string): Run {
    const file = join(standIns().dir, "script.sh");
    writeFileSync(file, script);
    return bash(`cat | bash '${file}'`, { input: exports });
  }

  it("sourcing the exports from stdin (as the SSH executors do) yields the exact values, exported", () => {
    const names = Object.keys(secrets);
    const reader = `set -a; . /dev/stdin; set +a\nbash -c 'printf "%s\\0" ${names.map((n) => `"$${n}"`).join(" ")}'`;
    const run = withStdinPipe(reader, secretExports(secrets));
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.split("\0").slice(0, -1)).toEqual(Object.values(secrets));
  });

  it("a node script behind the command executor's stdin prefix sees the secret", () => {
    const config = configWith({ startCommand: 'printf %s "$GLANCE_DB_PASSWORD"' });
    const script = `set -a; . /dev/stdin; set +a\n${buildNodeScript("start", config, node2)}`;
    const run = withStdinPipe(script, secretExports({ GLANCE_DB_PASSWORD: DB_PASSWORD }));
    expect(run).toEqual({ status: 0, stdout: DB_PASSWORD, stderr: "" });
  });

  it("sourcing runs nothing embedded in a value", () => {
    const s = standIns();
    const marker = join(s.dir, "pwned");
    const exports = secretExports({
      X: `$(touch ${marker})`,
      Y: `'; touch ${marker}; '`,
      Z: `\`touch ${marker}\``,
    });
    const run = withStdinPipe(`. /dev/stdin; printf '%s|%s|%s' "$X" "$Y" "$Z"`, exports);
    expect(run.stdout).toBe(`$(touch ${marker})|'; touch ${marker}; '|\`touch ${marker}\``);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("no secret in any node script", () => {
  const fixtures = { haproxy: haproxyStack(3), alb: albStack(3), provisioned: albProvisionedStack(2) };
  it.each(Object.entries(fixtures))("%s: no secret value or fragment in any kind", (_, stack) => {
    const config = parsed(stack);
    const forbidden = [
      DB_PASSWORD,
      DB_ADMIN_PASSWORD,
      SSH_PRIVATE_KEY,
      "p4ss",
      "PRIVATE KEY",
      "fixture-not-a-real-key",
    ];
    const withPrestage = {
      ...config,
      nodeCommands: { ...config.nodeCommands, prestageCommand: APT_PRESTAGE },
    };
    for (const node of [...config.nodes, { name: config.newNodeName }]) {
      for (const kind of [...KINDS, "prestage" as const]) {
        const script = buildNodeScript(kind, withPrestage, node);
        for (const secret of forbidden) expect(script.includes(secret), `${node.name}/${kind}`).toBe(false);
      }
    }
  });
});
