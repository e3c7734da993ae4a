import { exportLines, shellQuote } from "../exec/shellQuote";
import { UpgradeConfig } from "../../plan/config";
import { extensionOf, type ScriptKind } from "../../plan/stepKinds";
import { versionCasePattern } from "../version";
import { configCheckCommands } from "./glanceConfigCheck";

/**
 * The pure script builder: config in, the exact bash of every node step out. Both executors run
 * these same strings. Scripts contain no secrets: those travel beside them (environment locally,
 * stdin over SSH). Values from config are validated to a safe alphabet and single-quoted anyway.
 */

/** The kinds that run a script (declared in plan/stepKinds.ts). */
export type { NodeScriptKind, ScriptKind } from "../../plan/stepKinds";

/**
 * Reads oslo.upgradecheck's table (`| Check: name |`, `| Result: Warning |`, `| Details: ... |` with
 * continuation rows, `+---+` between checks) and prints "name: details" for every check that warned
 * or failed, separated by "; ".
 */
const FLAGGED_CHECKS_AWK = [
  '{ line = $2; gsub(/^ +| +$/, "", line) }',
  '/^\\+/ { if (flag) { printf "%s%s: %s", sep, name, details; sep = "; " } name = ""; details = ""; flag = 0; indet = 0; next }',
  "line ~ /^Check: / { name = substr(line, 8); next }",
  "line ~ /^Result: (Warning|Failure)/ { flag = 1; next }",
  "line ~ /^Details: / { details = substr(line, 10); indet = 1; next }",
  'indet && line != "" { details = details " " line }',
].join(" ");

const STOP_VERIFY_ATTEMPTS = 120; // x 0.5 s: how long a stopped service may take to really be gone

function header(config: UpgradeConfig, node: { name: string }): string[] {
  return [
    "set -euo pipefail",
    `export GLANCE_NODE=${shellQuote(node.name)}`,
    `export GLANCE_RELEASE=${shellQuote(config.targetRelease)}`,
    `export GLANCE_TARGET_VERSION=${shellQuote(config.targetVersion)}`,
  ];
}

/** The schema steps: each runs glance-manage against the database. */
const SCHEMA_KINDS: ReadonlySet<ScriptKind> = new Set(["expand", "migrate", "verify", "contract"]);

/** The node's lock file for schema steps on one database (the same path on every run). */
export function schemaLockFile(db: { host: string; port: number; name: string }): string {
  const key = `${db.host}-${db.port}-${db.name}`.replace(/[^A-Za-z0-9._-]/g, "_");
  return `/tmp/glance-rolling-upgrade-schema.${key}.lock`;
}

/**
 * A schema step refuses to start beside a glance-manage that still runs on the node against the
 * same database: a killed run's step is not killed with it (a local step runs in its own process
 * group, a remote one until its timeout), and after `recover` the next `up` starts that step again.
 * The lock is on fd 9, which glance-manage inherits, so it is held until glance-manage itself ends,
 * whatever happened to the script or the run around it. flock is util-linux's (busybox has one too).
 *
 * A schema change also runs to its end when the run that started it dies: MySQL DDL is not
 * transactional, so a glance-manage stopped mid-migration can leave a schema that neither release
 * nor a rerun of the step can use. `run_to_end` starts it in a session of its own (setsid -w, which
 * waits and returns its status), out of reach of the step's process group, which the provider's
 * reaper ends when the provider dies (steps/exec/reaper.ts); the rerun after `recover` then waits on
 * the lock and finds the change done ("Database is up to date").
 */
function schemaLock(config: UpgradeConfig): string[] {
  return [
    `schema_lock=${shellQuote(schemaLockFile(config.database))}`,
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
}

/** A schema change, run to its end whatever happens to the step around it (see schemaLock). */
function toTheEnd(command: string): string {
  return `run_to_end ${shellQuote(command)}`;
}

function body(kind: ScriptKind, config: UpgradeConfig, node: { name: string }): string[] {
  return SCHEMA_KINDS.has(kind)
    ? [...schemaLock(config), ...commands(kind, config, node)]
    : commands(kind, config, node);
}

function commands(kind: ScriptKind, config: UpgradeConfig, node: { name: string }): string[] {
  const c = config.nodeCommands;
  const manage = c.glanceManageCommand;
  switch (kind) {
    case "prestage":
      // In a subshell, so a failure is reported in the operator's words with its exit code.
      if (c.prestageCommand === undefined)
        throw new Error("a prestage step needs nodeCommands.prestageCommand");
      return [
        "set +e",
        `( set -e; ${c.prestageCommand} )`,
        "rc=$?",
        "set -e",
        `if [ "$rc" -ne 0 ]; then echo "prestageCommand failed on $GLANCE_NODE (exit $rc) before its drain: the node is still in rotation and was not changed by the upgrade; fix the command or the node, then run up again" >&2; exit "$rc"; fi`,
        `echo "pre-staged release $GLANCE_RELEASE ($GLANCE_TARGET_VERSION) on $GLANCE_NODE while it still serves (prestageCommand exit 0)"`,
      ];
    case "stop": {
      // Moving to another server: stop whichever one runs (a rerun may find the node half moved).
      const stop = c.serverMove ?? c;
      return [
        stop.stopCommand,
        `for _ in $(seq 1 ${STOP_VERIFY_ATTEMPTS}); do`,
        `  if ${stop.stoppedCheckCommand}; then echo "glance stopped on $GLANCE_NODE"; exit 0; fi`,
        "  sleep 0.5",
        "done",
        `echo "glance is still running on $GLANCE_NODE after the stop command; not upgrading it" >&2`,
        "exit 1",
      ];
    }
    case "upgrade":
      return [
        c.upgradeCommand,
        `version="$(${c.versionCommand})" || { echo "could not read the version on $GLANCE_NODE: versionCommand failed" >&2; exit 1; }`,
        `case "$version" in`,
        // The target, or the target then a separator (28.2.0-0ubuntu1): never a bare prefix (versionMatches).
        `  ${versionCasePattern("GLANCE_TARGET_VERSION")}) echo "$GLANCE_NODE now has glance $version (release $GLANCE_RELEASE)" ;;`,
        `  *) echo "upgrade did not take on $GLANCE_NODE: it reports '$version', expected $GLANCE_TARGET_VERSION" >&2; exit 1 ;;`,
        "esac",
      ];
    case "start":
      return [c.serverMove?.startCommand ?? c.startCommand];
    case "version":
      return [c.versionCommand];
    case "upgrade-check":
      return [
        "set +e",
        `report="$(${c.glanceStatusCommand} upgrade check 2>&1)"`,
        "rc=$?",
        "set -e",
        `printf '%s\\n' "$report" >&2`,
        `flagged="$(printf '%s\\n' "$report" | awk -F'|' '${FLAGGED_CHECKS_AWK}')"`,
        `case "$rc" in`,
        `  0) echo "glance-status upgrade check: success" ;;`,
        `  1) echo "glance-status upgrade check: WARNING (exit 1): $flagged" ;;`,
        `  2) echo "glance-status upgrade check FAILED (exit 2): $flagged. Nothing was changed: fix this on the NEW NODE, then run up again" >&2; exit 1 ;;`,
        `  *) echo "glance-status upgrade check ERROR (exit $rc): it could not run its checks (its output is above); nothing was changed" >&2; exit 1 ;;`,
        "esac",
      ];
    case "config-check":
      return configCheckCommands(config, node);
    case "expand":
      return [toTheEnd(`${manage} db expand`)];
    case "migrate":
      return [toTheEnd(`${manage} db migrate`)];
    case "verify":
      return [
        "set +e",
        `${manage} db check`,
        "rc=$?",
        "set -e",
        `case "$rc" in`,
        `  0|5) echo "migrations verified: db check exit $rc (${"0 up to date, 5 contract pending"})" ;;`,
        `  3) echo "db check exit 3: db expand is still pending" >&2; exit 1 ;;`,
        `  4) echo "db check exit 4: data migrations are still pending; run db migrate" >&2; exit 1 ;;`,
        `  *) echo "db check failed with exit $rc" >&2; exit "$rc" ;;`,
        "esac",
      ];
    case "contract":
      return [
        toTheEnd(`${manage} db contract`),
        "set +e",
        `${manage} db check`,
        "rc=$?",
        "set -e",
        `if [ "$rc" -ne 0 ]; then echo "db check after contract exited $rc, expected 0" >&2; exit 1; fi`,
      ];
    default: {
      // A kind added to the release change brings its own commands.
      const added = extensionOf(kind);
      if (!added) throw new Error(`no script is declared for step kind ${String(kind)}`);
      return added.commands(config);
    }
  }
}

/**
 * The node commands of a rollback: it stops with serverMove's stop and check (the node may run either
 * server), and starts with startCommand, the old release's server.
 */
export function rollbackNodeCommands(commands: UpgradeConfig["nodeCommands"]): UpgradeConfig["nodeCommands"] {
  const move = commands.serverMove;
  if (move === undefined) return commands;
  const back = { ...commands, stopCommand: move.stopCommand, stoppedCheckCommand: move.stoppedCheckCommand };
  delete back.serverMove;
  return back;
}

/** The exact script a node step runs. */
export function buildNodeScript(kind: ScriptKind, config: UpgradeConfig, node: { name: string }): string {
  return [...header(config, node), ...body(kind, config, node), ""].join("\n");
}

/**
 * The health gate as bash, for executors that run it on the node (the `command` executor): the same
 * rule as the native gate (HTTP 200 within the timeout, each probe bounded), probed with curl.
 */
export function healthGateScript(url: string, timeoutSeconds: number): string {
  const quoted = shellQuote(url);
  return [
    "gate_started=$SECONDS",
    "while :; do",
    `  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${quoted} || true)"`,
    `  if [ "$code" = 200 ]; then break; fi`,
    `  if [ $((SECONDS - gate_started)) -ge ${timeoutSeconds} ]; then`,
    `    echo ${shellQuote(`${url} never answered 200 within ${timeoutSeconds} s`)}"; last answer: \${code:-none}. Check the service's log on $GLANCE_NODE and that it listens where the health URL points." >&2`,
    "    exit 1",
    "  fi",
    "  sleep 0.5",
    "done",
    `echo "$GLANCE_NODE healthy after $((SECONDS - gate_started)) s"`,
    "",
  ].join("\n");
}

/** Secrets as `export` lines for a remote script's stdin (sshd drops a client's environment). */
export function secretExports(secrets: Record<string, string>): string {
  return exportLines(secrets);
}

/** The port a health URL names (its scheme's default when it names none). */
export function healthUrlPort(healthUrl: string): number {
  const url = new URL(healthUrl.replaceAll("{address}", "node.invalid"));
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

/**
 * The TCP states in which a connection on the node's port may still carry work: a handshake under
 * way (SYN-RECV), an open connection, and one either side has closed while the node may still have
 * bytes unsent or a request under way (FIN-WAIT-1, CLOSE-WAIT, LAST-ACK, CLOSING). Left out: LISTEN,
 * TIME-WAIT and FIN-WAIT-2 (the node closed and the peer acknowledged all it sent).
 */
export const WORK_STATES = [
  "syn-recv",
  "established",
  "fin-wait-1",
  "close-wait",
  "last-ack",
  "closing",
] as const;

/** `ss` listing the connections on the node's traffic port that may carry work, one line each, no header. */
export function defaultConnectionsCommand(port: number): string {
  return `ss -Htn ${WORK_STATES.map((s) => `state ${s}`).join(" ")} '( sport = :${port} )'`;
}

/**
 * The ALB drain's idle probe (steps/lb/alb/drainEnd.ts): prints one line per connection on the
 * node's traffic port that may carry work; the drain counts the lines that are not empty.
 */
export function connectionsScript(config: UpgradeConfig, node: { name: string; healthUrl: string }): string {
  const command =
    config.nodeCommands.connectionsCommand ?? defaultConnectionsCommand(healthUrlPort(node.healthUrl));
  return [...header(config, node), command, ""].join("\n");
}
