import { dbStep, nodeStep, parseNodeStep, parseStepId, PREFLIGHT_STEP } from "../plan/stepIds";
import { kindSpec } from "../plan/stepKinds";
import { recordFromStored, type StepRecord, type StoredOutcome } from "../steps/progress";
import type { TypedResult } from "../steps/results";

/** The upgrade's `summary` output as a state holds it: each step's stored outcome, by step id. */
export type Summary = Readonly<Record<string, StoredOutcome>>;

/** Step records by step id: read from a state's summary, or folded from a run's events. */
export type StepRecords = ReadonlyMap<string, StepRecord>;

export interface NodeSummary {
  node: string;
  drainSeconds?: number;
  /** From the start of the node's drain to the end of its admit (both read from the steps' times). */
  outOfRotationSeconds?: number;
  /** True when the node's prestage finished before its drain started, so it left rotation pre-staged. */
  prestaged: boolean;
  /** How long the prestage ran (while the node still served), when it ran. */
  prestageSeconds?: number;
  releaseBefore?: string;
  releaseAfter?: string;
  /** How long its admit took. */
  admitSeconds?: number;
  /**
   * What the load balancer's own settings let its drain and admit take, at most, as the preflight
   * read them (an ALB target group's); absent for a kind without settings, or a state from before.
   */
  expectedDrainSeconds?: number;
  expectedAdmitSeconds?: number;
}

/** The result keys the table shows for a step: its kind's (plan/stepKinds.ts), none for an unknown id. */
function shownResultKeys(id: string): readonly string[] {
  const parsed = parseStepId(id);
  return (parsed && kindSpec(parsed.scope, parsed.kind)?.shown) ?? [];
}

/** The records a state's summary holds (steps that never ran, such as a NEW NODE's instance, have none). */
export function summaryRecords(summary: Summary): StepRecords {
  return new Map(
    Object.entries(summary).flatMap(([id, stored]) => {
      const record = recordFromStored(id, stored);
      return record ? [[id, record] as const] : [];
    }),
  );
}

function isRecords(from: Summary | StepRecords): from is StepRecords {
  return from instanceof Map;
}

/** Records in any form the driver has them: a state's summary, or records already read. */
function recordsOf(from: Summary | StepRecords): StepRecords {
  return isRecords(from) ? from : summaryRecords(from);
}

function seconds(value: number | undefined): string {
  return value === undefined ? "-" : `${value.toFixed(1)} s`;
}

/** A record's result fields (its typed result holds one kind's). */
function resultFields(result: TypedResult): Record<string, unknown> {
  return Object.assign({}, ...Object.values(result)) as Record<string, unknown>;
}

/** The notes column: a failed step's reason first, then what its result says. */
function notesOf(record: StepRecord): string {
  const fields = resultFields(record.result);
  const shown = shownResultKeys(record.step)
    .filter((key) => fields[key] !== undefined && fields[key] !== null)
    .map((key) => `${key}=${formatValue(fields[key])}`);
  const status =
    record.status === "failed"
      ? [`FAILED reason=${record.failure?.reason ?? "StepFailed"}`]
      : record.status === "running"
        ? ["running"]
        : [];
  return [...status, ...shown].join(" ");
}

/**
 * Per node: drain time, time out of rotation (drain start to admit end), whether it was pre-staged
 * (its prestage ended before its drain started), release before and after.
 */
export function nodeSummaries(from: Summary | StepRecords): NodeSummary[] {
  const records = recordsOf(from);
  const preflight = records.get(PREFLIGHT_STEP)?.result.preflight;
  const before = preflight?.versionsBefore ?? {};
  // The summary is the upgrade's (RollingUpgrade's outputs): it holds no rollback step.
  const nodes = new Set(
    [...records.keys()].flatMap((id) => {
      const step = parseNodeStep(id);
      return step?.kind === "admit" && !step.rollback ? [step.node] : [];
    }),
  );
  return [...nodes].map((node) => {
    const drain = records.get(nodeStep(node, "drain"));
    const admit = records.get(nodeStep(node, "admit"));
    const prestage = records.get(nodeStep(node, "prestage"));
    const out =
      drain?.startedAt && admit?.endedAt
        ? (Date.parse(admit.endedAt) - Date.parse(drain.startedAt)) / 1000
        : undefined;
    const prestaged =
      !!prestage?.endedAt &&
      !!drain?.startedAt &&
      Date.parse(prestage.endedAt) <= Date.parse(drain.startedAt);
    return {
      node,
      drainSeconds: drain?.result.drain?.drainSeconds,
      outOfRotationSeconds: out,
      prestaged,
      ...(prestage?.endedAt ? { prestageSeconds: prestage.seconds } : {}),
      releaseBefore: before[node],
      releaseAfter: records.get(nodeStep(node, "version"))?.result.version?.stdout,
      ...(admit?.result.admit?.admitSeconds !== undefined
        ? { admitSeconds: admit.result.admit.admitSeconds }
        : {}),
      // A provisioned NEW NODE has no drain: nothing is expected of one.
      ...(preflight?.expectedDrainSeconds !== undefined && drain !== undefined
        ? { expectedDrainSeconds: preflight.expectedDrainSeconds }
        : {}),
      ...(preflight?.expectedAdmitSeconds !== undefined
        ? { expectedAdmitSeconds: preflight.expectedAdmitSeconds }
        : {}),
    };
  });
}

/**
 * The table printed after an upgrade and by `report` (from the state's summary), and after a failed
 * run (from the run's own records, with the failed step's reason).
 */
export function renderSummary(from: Summary | StepRecords): string {
  const records = recordsOf(from);
  const steps = [...records.values()].filter((record) => record.startedAt);
  steps.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const lines = ["Steps (in the order they ran):"];
  for (const record of steps) {
    lines.push(
      `  ${record.step.padEnd(24)} ${record.startedAt.slice(11, 19)}  ${seconds(record.seconds).padStart(8)}  ${notesOf(record)}`,
    );
  }
  const nodes = nodeSummaries(records);
  // The pre-staged column appears only in runs with a prestage (nodeCommands.prestageCommand).
  const withPrestage = [...records.keys()].some((id) => parseNodeStep(id)?.kind === "prestage");
  // The expected columns appear only when the preflight read the load balancer's settings (ALB).
  const withExpected = nodes.some((n) => n.expectedAdmitSeconds !== undefined);
  const upTo = (value: number | undefined): string => (value === undefined ? "-" : `<= ${value} s`);
  const expectedColumns = (node?: NodeSummary): string =>
    !withExpected
      ? ""
      : node === undefined
        ? ` ${"admit".padStart(8)} ${"expected drain".padStart(14)} ${"expected admit".padStart(14)}`
        : ` ${seconds(node.admitSeconds).padStart(8)} ${upTo(node.expectedDrainSeconds).padStart(14)} ${upTo(node.expectedAdmitSeconds).padStart(14)}`;
  const prestageColumn = (node?: NodeSummary): string =>
    !withPrestage
      ? ""
      : node === undefined
        ? ` ${"pre-staged".padEnd(14)}`
        : ` ${(node.prestaged ? `yes (${seconds(node.prestageSeconds)})` : "no").padEnd(14)}`;
  lines.push(
    "",
    "Nodes:",
    `  ${"node".padEnd(12)} ${"drain".padStart(8)} ${"out of rotation".padStart(16)}${expectedColumns()}${prestageColumn()}  release before -> after`,
  );
  for (const node of nodes) {
    lines.push(
      `  ${node.node.padEnd(12)} ${seconds(node.drainSeconds).padStart(8)} ${seconds(node.outOfRotationSeconds).padStart(16)}${expectedColumns(node)}${prestageColumn(node)}  ${node.releaseBefore ?? "?"} -> ${node.releaseAfter ?? "?"}`,
    );
  }
  if (withExpected) {
    const settings = records.get(PREFLIGHT_STEP)?.result.preflight?.loadBalancerSettings;
    lines.push(
      `  (expected: the most the load balancer's settings let a drain and an admit take, as the preflight read them${settings ? `: ${settings}` : ""})`,
    );
  }
  if (withPrestage) {
    lines.push(
      "  (out of rotation: from the start of the node's drain to the end of its admit; pre-staged: its",
      "   prestageCommand finished, in the time shown, before the drain, while the node still served)",
    );
  }
  const db = (["expand", "migrate", "contract"] as const).map((kind) => {
    const record = records.get(dbStep(kind));
    return `${kind} ${record?.startedAt.slice(11, 19) ?? "-"} (${seconds(record?.seconds)})`;
  });
  lines.push("", `Database: ${db.join(", ")}`);
  lines.push(...galeraLines(records));
  const times = steps.flatMap((r) => [Date.parse(r.startedAt), Date.parse(r.endedAt ?? r.startedAt)]);
  if (times.length > 0) lines.push(`Total: ${seconds((Math.max(...times) - Math.min(...times)) / 1000)}`);
  return lines.join("\n");
}

/**
 * With database.galeraMembers: each member's state (wsrep state, Primary, size, setting) as the
 * preflight read it before anything changed and as db/restore-setting read it after the restore.
 */
export function galeraLines(records: StepRecords): string[] {
  const before = records.get(PREFLIGHT_STEP)?.result.preflight?.galeraMembersBefore;
  const after = records.get(dbStep("restore-setting"))?.result["restore-setting"]?.galeraMembersAfter;
  if (!before && !after) return [];
  return [
    "",
    "Galera members before:",
    ...(before ?? ["(not read)"]).map((line) => `  ${line}`),
    "Galera members after:",
    ...(after ?? ["(not read: db/restore-setting has not finished)"]).map((line) => `  ${line}`),
  ];
}

function formatValue(value: unknown): string {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
}
