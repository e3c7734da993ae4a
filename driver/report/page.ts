/**
 * The report page: one self-contained HTML file (inline CSS and SVG, no script, nothing fetched)
 * drawn from a ReportModel. Pure: a string from a model.
 *
 * Every bar is an SVG rect carrying its step's times (`data-start`, `data-end`, ISO) beside its
 * x and width, and the timeline's SVG carries its plot's x and width (`data-plot-x`,
 * `data-plot-width`) and the runs' segments (`data-axis`): what a reader (and the browser test)
 * needs to check that each bar sits where its times say.
 */
import {
  Axis,
  Bar,
  DB_LANE,
  FLEET_LANE,
  Mark,
  NODE_BAR_KINDS,
  PLOT_WIDTH,
  PLOT_X,
  ReportModel,
  runAt,
  xAt,
} from "./model";

const LANE_HEIGHT = 26;
const BAR_HEIGHT = 16;
const TOP = 30;
const SVG_WIDTH = PLOT_X + PLOT_WIDTH + 20;
const CHART_HEIGHT = 90;

const COLORS: Record<string, string> = {
  prestage: "#b8c4d6",
  drain: "#f0a030",
  stop: "#c05050",
  upgrade: "#3070c0",
  "upgrade-check": "#80a8e0",
  start: "#30a0a0",
  admit: "#40a040",
  bake: "#8050c0",
  version: "#a0a0a0",
  backup: "#806040",
  "allow-functions": "#c0a060",
  expand: "#2060a0",
  migrate: "#4080c0",
  verify: "#70a0c0",
  contract: "#204070",
  "restore-setting": "#c0a060",
  preflight: "#909090",
};
const FAILED = "#d01010";

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const iso = (at: number) => new Date(at).toISOString();
const clock = (at: number) => iso(at).slice(11, 19);
const secs = (value: number | undefined) => (value === undefined ? "-" : `${value.toFixed(1)} s`);
const px = (value: number) => value.toFixed(2);

/** The time ticks of one run's segment: about one per 90 px, on a round number of seconds. */
function ticks(axis: Axis): string[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  return axis.segments.flatMap((segment) => {
    const seconds = (segment.to - segment.from) / 1000;
    const wanted = Math.max(1, Math.floor(segment.width / 90));
    const step = steps.find((s) => seconds / s <= wanted) ?? 3600;
    const out: string[] = [];
    for (let t = 0; t <= seconds; t += step) {
      const x = xAt(axis, segment.run, segment.from + t * 1000) ?? 0;
      out.push(
        `<line class="tick" x1="${px(x)}" x2="${px(x)}" y1="0" y2="100%" />` +
          `<text class="tick-label" x="${px(x)}" y="12">${t === 0 ? clock(segment.from) : `+${t}s`}</text>`,
      );
    }
    return out;
  });
}

function barRect(axis: Axis, bar: Bar, y: number): string {
  const x1 = xAt(axis, bar.run, bar.start) ?? 0;
  const x2 = xAt(axis, bar.run, bar.end) ?? x1;
  const title =
    `${bar.step}: ${clock(bar.start)} +${((bar.end - bar.start) / 1000).toFixed(1)} s` +
    (bar.status === "failed"
      ? ` FAILED ${bar.failure ?? ""}`
      : bar.status === "running"
        ? " (never ended)"
        : "");
  return (
    `<rect class="bar bar-${escapeHtml(bar.kind)}${bar.status === "failed" ? " failed" : ""}" ` +
    `data-step="${escapeHtml(bar.step)}" data-kind="${escapeHtml(bar.kind)}" data-lane="${escapeHtml(bar.lane)}" ` +
    `data-status="${bar.status}" data-run="${bar.run}" data-start="${iso(bar.start)}" data-end="${iso(bar.end)}" ` +
    `x="${px(x1)}" y="${y + (LANE_HEIGHT - BAR_HEIGHT) / 2}" width="${px(Math.max(x2 - x1, 0))}" height="${BAR_HEIGHT}" ` +
    `fill="${bar.status === "failed" ? FAILED : (COLORS[bar.kind] ?? "#909090")}"><title>${escapeHtml(title)}</title></rect>`
  );
}

function markShape(axis: Axis, mark: Mark, laneY: (lane: string) => number, height: number): string {
  const run = runAt(axis, mark.at) ?? axis.segments.length - 1;
  const x = xAt(axis, run, mark.at) ?? 0;
  if (mark.type === "checkpoint") {
    return (
      `<g class="mark checkpoint-mark" data-at="${iso(mark.at)}"><line x1="${px(x)}" x2="${px(x)}" y1="${TOP - 6}" y2="${height}" />` +
      `<text x="${px(x + 4)}" y="${TOP - 8}">checkpoint</text><title>${escapeHtml(mark.label)}</title></g>`
    );
  }
  const y = laneY(mark.lane ?? FLEET_LANE) + LANE_HEIGHT / 2;
  return (
    `<g class="mark failure-mark" data-lane="${escapeHtml(mark.lane ?? "")}" data-at="${iso(mark.at)}">` +
    `<circle cx="${px(x)}" cy="${y}" r="9" />` +
    `<path d="M${px(x - 5)} ${y - 5} L${px(x + 5)} ${y + 5} M${px(x + 5)} ${y - 5} L${px(x - 5)} ${y + 5}" />` +
    `<title>${escapeHtml(mark.label)}</title></g>`
  );
}

function runBreaks(axis: Axis, height: number): string {
  return axis.segments
    .slice(1)
    .map((segment) => {
      const x = segment.x - axis.gap / 2;
      const before = axis.segments[segment.run - 1];
      const waited = before ? Math.round((segment.from - before.to) / 1000) : 0;
      return (
        `<g class="run-break"><rect x="${px(segment.x - axis.gap)}" y="${TOP}" width="${axis.gap}" height="${height - TOP}" />` +
        `<text x="${px(x)}" y="${height - 4}" text-anchor="middle">${waited}s</text>` +
        `<title>${waited} s between two runs (not to scale)</title></g>`
      );
    })
    .join("");
}

function timeline(model: ReportModel): string {
  const laneY = (lane: string) => TOP + Math.max(model.lanes.indexOf(lane), 0) * LANE_HEIGHT;
  const height = TOP + model.lanes.length * LANE_HEIGHT + 14;
  const lanes = model.lanes
    .map(
      (lane, i) =>
        `<g class="lane" data-lane="${escapeHtml(lane)}"><rect class="lane-bg${i % 2 ? " odd" : ""}" x="0" y="${laneY(lane)}" width="${SVG_WIDTH}" height="${LANE_HEIGHT}" />` +
        `<text class="lane-label" x="8" y="${laneY(lane) + 17}">${escapeHtml(lane === DB_LANE ? "database" : lane === FLEET_LANE ? "fleet" : lane)}</text></g>`,
    )
    .join("");
  const bars = model.bars.map((bar) => barRect(model.axis, bar, laneY(bar.lane))).join("");
  const marks = model.marks.map((mark) => markShape(model.axis, mark, laneY, height)).join("");
  const axisData = JSON.stringify(
    model.axis.segments.map((s) => ({ ...s, from: iso(s.from), to: iso(s.to) })),
  );
  return (
    `<svg id="timeline" class="chart" xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${SVG_WIDTH} ${height}" data-plot-x="${PLOT_X}" data-plot-width="${PLOT_WIDTH}" data-axis="${escapeHtml(axisData)}">` +
    `${lanes}<g class="ticks">${ticks(model.axis).join("")}</g>${runBreaks(model.axis, height)}${bars}${marks}</svg>`
  );
}

/** A step chart of `points` (value from each point's time to the next), over the axis. */
function stepPath(
  model: ReportModel,
  points: Array<{ at: number; value: number }>,
  max: number,
  top: number,
): string {
  if (points.length === 0 || max <= 0) return "";
  const y = (value: number) => top + CHART_HEIGHT - (value / max) * (CHART_HEIGHT - 10);
  const last = model.runs.at(-1)?.end ?? points[0].at;
  const parts: string[] = [];
  // Joined within a run's segment (a vertical at each change), a new start in the next.
  let open: { run: number; x: number } | undefined;
  for (let i = 0; i < points.length; i++) {
    const from = points[i].at;
    const to = points[i + 1]?.at ?? last;
    for (const segment of model.axis.segments) {
      if (to < segment.from || from > segment.to) continue;
      const x1 = xAt(model.axis, segment.run, from) ?? 0;
      const x2 = xAt(model.axis, segment.run, to) ?? x1;
      const level = px(y(points[i].value));
      const joined = open?.run === segment.run && Math.abs(open.x - x1) < 0.01;
      parts.push(joined ? `V${level} H${px(x2)}` : `M${px(x1)} ${level} H${px(x2)}`);
      open = { run: segment.run, x: x2 };
    }
  }
  return parts.join(" ");
}

function capacityChart(model: ReportModel): string {
  const max = Math.max(model.nodeCount, 1);
  const top = 10;
  const path = stepPath(
    model,
    model.capacity.map((c) => ({ at: c.at, value: c.inRotation })),
    max,
    top,
  );
  const gridY = (n: number) => top + CHART_HEIGHT - (n / max) * (CHART_HEIGHT - 10);
  const grid = Array.from({ length: max + 1 }, (_, n) => n)
    .map(
      (n) =>
        `<line class="grid" x1="${PLOT_X}" x2="${PLOT_X + PLOT_WIDTH}" y1="${px(gridY(n))}" y2="${px(gridY(n))}" />` +
        `<text class="tick-label" x="${PLOT_X - 6}" y="${px(gridY(n) + 4)}" text-anchor="end">${n}</text>`,
    )
    .join("");
  return (
    `<svg id="capacity" class="chart" xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${CHART_HEIGHT + 20}">` +
    `<text class="lane-label" x="8" y="${top + 14}">in rotation</text>${grid}` +
    `<path class="capacity-line" d="${path}" /></svg>`
  );
}

function loadChart(model: ReportModel): string {
  if (model.load.length === 0)
    return `<p class="note">No load ran beside this upgrade (only the lab's load is recorded).</p>`;
  const top = 10;
  const max = Math.max(...model.load.map((p) => p.requests), 1);
  const rate = stepPath(
    model,
    model.load.map((p) => ({ at: p.at, value: p.requests })),
    max,
    top,
  );
  const failures = model.load
    .filter((p) => p.failures > 0)
    .map((p) => {
      const run = runAt(model.axis, p.at) ?? 0;
      const x = xAt(model.axis, run, p.at) ?? 0;
      const h = Math.max((p.failures / max) * (CHART_HEIGHT - 10), 3);
      return `<rect class="load-failure" data-at="${iso(p.at)}" data-failures="${p.failures}" x="${px(x)}" y="${px(top + CHART_HEIGHT - h)}" width="3" height="${px(h)}"><title>${p.failures} failed at ${clock(p.at)}</title></rect>`;
    })
    .join("");
  const total = model.load.reduce((sum, p) => sum + p.requests, 0);
  const failed = model.load.reduce((sum, p) => sum + p.failures, 0);
  return (
    `<svg id="load" class="chart" xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${CHART_HEIGHT + 20}">` +
    `<text class="lane-label" x="8" y="${top + 14}">requests/s</text>` +
    `<text class="tick-label" x="${PLOT_X - 6}" y="${top + 14}" text-anchor="end">${max}</text>` +
    `<line class="grid" x1="${PLOT_X}" x2="${PLOT_X + PLOT_WIDTH}" y1="${top + CHART_HEIGHT}" y2="${top + CHART_HEIGHT}" />` +
    `<path class="load-line" d="${rate}" />${failures}</svg>` +
    `<p class="note">Within the runs shown: <b>${total}</b> requests, <b class="${failed > 0 ? "bad" : "good"}">${failed}</b> failed (failures drawn in red).</p>`
  );
}

function nodesTable(model: ReportModel): string {
  const max = Math.max(...model.nodes.flatMap((n) => [n.outSeconds ?? 0, n.floorSeconds ?? 0]), 1);
  const scale = 360 / max;
  const rows = model.nodes
    .map((n) => {
      const out = n.outSeconds ?? 0;
      const floor = n.floorSeconds;
      return (
        `<tr class="node-row" data-node="${escapeHtml(n.node)}"><td>${escapeHtml(n.node)}</td>` +
        `<td class="num">${n.stillOut ? "still out" : secs(n.outSeconds)}</td><td class="num">${secs(floor)}</td>` +
        `<td class="num">${floor && n.outSeconds !== undefined ? (out / floor).toFixed(2) : "-"}</td>` +
        `<td><svg width="380" height="16" xmlns="http://www.w3.org/2000/svg"><rect class="out-bar" x="0" y="3" width="${px(out * scale)}" height="10" />` +
        (floor === undefined
          ? ""
          : `<line class="floor-line" x1="${px(floor * scale)}" x2="${px(floor * scale)}" y1="0" y2="16" />`) +
        `</svg></td></tr>`
      );
    })
    .join("");
  return (
    `<table class="nodes"><tr><th>node</th><th>out of rotation</th><th>floor</th><th>out / floor</th><th>` +
    `<span class="swatch out"></span> out <span class="swatch floor"></span> floor</th></tr>${rows}</table>` +
    `<p class="note">Out of rotation: from the start of the node's drain to the end of its admit. ` +
    `Floor: its stop + upgrade + start, the work that has to happen out of rotation.</p>`
  );
}

function databaseTable(model: ReportModel): string {
  if (model.database.length === 0) return `<p class="note">No database step ran.</p>`;
  const rows = model.database
    .map(
      (b) =>
        `<tr class="${b.status}"><td>${escapeHtml(b.step)}</td><td>${clock(b.start)}</td>` +
        `<td class="num">${secs((b.end - b.start) / 1000)}</td><td>${b.status}${b.failure ? `: ${escapeHtml(b.failure)}` : ""}</td></tr>`,
    )
    .join("");
  return `<table class="db"><tr><th>step</th><th>started (UTC)</th><th>took</th><th>status</th></tr>${rows}</table>`;
}

function legend(): string {
  return NODE_BAR_KINDS.map(
    (kind) =>
      `<span class="key"><span class="swatch" style="background:${COLORS[kind]}"></span>${kind}</span>`,
  )
    .concat([
      `<span class="key"><span class="swatch" style="background:${FAILED}"></span>failed</span>`,
      `<span class="key"><span class="swatch checkpoint"></span>checkpoint</span>`,
    ])
    .join(" ");
}

const STYLE = `
body{font:14px/1.4 "DejaVu Sans",Arial,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
.chart{display:block}.lane-bg{fill:#fff}.lane-bg.odd{fill:#f4f6f8}
.lane-label{font-size:12px;fill:#333}.tick{stroke:#e2e2e2}.tick-label{font-size:10px;fill:#777}
.grid{stroke:#ddd}.capacity-line{fill:none;stroke:#40a040;stroke-width:2}
.load-line{fill:none;stroke:#3070c0;stroke-width:1.5}.load-failure{fill:#d01010}
.failure-mark circle{fill:#fff;stroke:#d01010;stroke-width:2}.failure-mark path{stroke:#d01010;stroke-width:2.5}
.checkpoint-mark line{stroke:#8050c0;stroke-width:2;stroke-dasharray:5 3}.checkpoint-mark text{font-size:11px;fill:#8050c0}
.run-break rect{fill:url(#none);fill:#eee}.run-break text{font-size:10px;fill:#555}
rect.failed{stroke:#700;stroke-width:1}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
.num{text-align:right}.out-bar{fill:#f0a030}.floor-line{stroke:#222;stroke-width:2}
.swatch{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 3px 0 8px}
.swatch.out{background:#f0a030}.swatch.floor{background:#222;width:3px}.swatch.checkpoint{background:#8050c0;width:3px}
.note{color:#555;font-size:12px}.bad{color:#d01010}.good{color:#208020}
.outcome{font-weight:bold}.outcome.failed,.outcome.interrupted{color:#d01010}.outcome.completed{color:#208020}
tr.failed td{color:#d01010}
`;

export function renderReportPage(model: ReportModel): string {
  const runs = model.runs
    .map(
      (run) =>
        `<tr class="run" data-outcome="${run.outcome}"><td>${escapeHtml(run.name)}</td><td>${escapeHtml(run.command)}</td>` +
        `<td>${iso(run.start).replace("T", " ").slice(0, 19)}</td><td class="num">${secs((run.end - run.start) / 1000)}</td>` +
        `<td class="num">${run.steps}</td><td class="outcome ${run.outcome.replace(" ", "-")}">${run.outcome}</td></tr>`,
    )
    .join("");
  const failures = model.marks
    .filter((m) => m.type === "failure")
    .map((m) => `<li class="failure">${escapeHtml(m.label)}</li>`)
    .join("");
  const title = `Glance upgrade${model.release ? ` to ${model.release}` : ""}: stack ${model.stack}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Outcome: <span id="outcome" class="outcome ${model.outcome.replace(" ", "-")}">${model.outcome}</span>
 &middot; ${model.runs.length} run(s) &middot; ${model.nodeCount} node(s)</p>
${failures ? `<ul id="failures">${failures}</ul>` : ""}
<h2>Timeline</h2>
<p class="legend">${legend()}</p>
${timeline(model)}
<h2>Capacity in rotation</h2>
${capacityChart(model)}
<h2>Load (requests per second, failures)</h2>
${loadChart(model)}
<h2>Time out of rotation, per node</h2>
${nodesTable(model)}
<h2>Database steps</h2>
${databaseTable(model)}
<h2>Runs</h2>
<table class="runs"><tr><th>run records</th><th>command</th><th>started (UTC)</th><th>took</th><th>steps</th><th>outcome</th></tr>${runs}</table>
<p class="note">Written by the driver from its run records (timeline.jsonl); the runs of one upgrade are joined, each on one scale, with a gap between two runs.</p>
</body></html>
`;
}
