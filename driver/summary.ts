import type { StepOutcome } from "../components/rollingUpgrade";
import { dbStep, nodeStep, parseNodeStep, parseStepId, PREFLIGHT_STEP } from "../plan/stepIds";
import { kindSpec } from "../plan/stepKinds";

export type Summary = Record<string, StepOutcome>;

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
}

/** The result keys the table shows for a step: its kind's (plan/stepKinds.ts), none for an unknown id. */
function shownResultKeys(id: string): readonly string[] {
  const parsed = parseStepId(id);
  return (parsed && kindSpec(parsed.scope, parsed.kind)?.shown) ?? [];
}

function seconds(value: number | undefined): string {
  return value === undefined ? "-" : `${value.toFixed(1)} s`;
}

/**
 * Per node: drain time, time out of rotation (drain start to admit end), whether it was pre-staged
 * (its prestage ended before its drain started), release before and after.
 */
export function nodeSummaries(summary: Summary): NodeSummary[] {
  const before = JSON.parse(String(summary[PREFLIGHT_STEP]?.result?.versionsBefore ?? "{}")) as Record<
    string,
    string
  >;
  // The summary is the upgrade's (RollingUpgrade's outputs): it holds no rollback step.
  const nodes = new Set(
    Object.keys(summary).flatMap((id) => {
      const step = parseNodeStep(id);
      return step?.kind === "admit" && !step.rollback ? [step.node] : [];
    }),
  );
  return [...nodes].map((node) => {
    const drain = summary[nodeStep(node, "drain")];
    const admit = summary[nodeStep(node, "admit")];
    const prestage = summary[nodeStep(node, "prestage")];
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
      drainSeconds: typeof drain?.result?.drainSeconds === "number" ? drain.result.drainSeconds : undefined,
      outOfRotationSeconds: out,
      prestaged,
      ...(prestage?.endedAt ? { prestageSeconds: prestage.seconds } : {}),
      releaseBefore: before[node],
      releaseAfter: summary[nodeStep(node, "version")]?.result?.stdout as string | undefined,
    };
  });
}

/** The table printed after an upgrade and by `report`. */
export function renderSummary(summary: Summary): string {
  const steps = Object.entries(summary).filter(([, outcome]) => outcome.startedAt);
  steps.sort(([, a], [, b]) => a.startedAt.localeCompare(b.startedAt));
  const lines = ["Steps (in the order they ran):"];
  for (const [id, outcome] of steps) {
    const notes = shownResultKeys(id)
      .filter((key) => outcome.result[key] !== undefined && outcome.result[key] !== null)
      .map((key) => `${key}=${formatValue(outcome.result[key])}`)
      .join(" ");
    lines.push(
      `  ${id.padEnd(24)} ${outcome.startedAt.slice(11, 19)}  ${seconds(outcome.seconds).padStart(8)}  ${notes}`,
    );
  }
  const nodes = nodeSummaries(summary);
  // The pre-staged column appears only in runs with a prestage (nodeCommands.prestageCommand).
  const withPrestage = Object.keys(summary).some((id) => parseNodeStep(id)?.kind === "prestage");
  const prestageColumn = (node?: NodeSummary): string =>
    !withPrestage
      ? ""
      : node === undefined
        ? ` ${"pre-staged".padEnd(14)}`
        : ` ${(node.prestaged ? `yes (${seconds(node.prestageSeconds)})` : "no").padEnd(14)}`;
  lines.push(
    "",
    "Nodes:",
    `  ${"node".padEnd(12)} ${"drain".padStart(8)} ${"out of rotation".padStart(16)}${prestageColumn()}  release before -> after`,
  );
  for (const node of nodes) {
    lines.push(
      `  ${node.node.padEnd(12)} ${seconds(node.drainSeconds).padStart(8)} ${seconds(node.outOfRotationSeconds).padStart(16)}${prestageColumn(node)}  ${node.releaseBefore ?? "?"} -> ${node.releaseAfter ?? "?"}`,
    );
  }
  if (withPrestage) {
    lines.push(
      "  (out of rotation: from the start of the node's drain to the end of its admit; pre-staged: its",
      "   prestageCommand finished, in the time shown, before the drain, while the node still served)",
    );
  }
  const db = (["expand", "migrate", "contract"] as const).map((kind) => {
    const outcome = summary[dbStep(kind)];
    return `${kind} ${outcome?.startedAt?.slice(11, 19) ?? "-"} (${seconds(outcome?.seconds)})`;
  });
  lines.push("", `Database: ${db.join(", ")}`);
  const times = steps.map(([, o]) => [Date.parse(o.startedAt), Date.parse(o.endedAt)]).flat();
  if (times.length > 0) lines.push(`Total: ${seconds((Math.max(...times) - Math.min(...times)) / 1000)}`);
  return lines.join("\n");
}

function formatValue(value: unknown): string {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
}
