/**
 * Opens a report page in a real headless Chromium (Debian's package, scripts/setup-services.sh) and
 * reads it as a person would see it: every bar's box on screen (getBoundingClientRect), the marks,
 * the console's errors, and a screenshot. The DevTools protocol runs over Chromium's pipe
 * (`--remote-debugging-pipe`: JSON messages ending in NUL on fds 3 and 4), so nothing but Node's
 * own modules is needed.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { PROJECT_ROOT } from "../../driver/environment";

export interface BarBox {
  step: string;
  kind: string;
  lane: string;
  status: string;
  run: number;
  start: string;
  end: string;
  left: number;
  width: number;
  top: number;
  height: number;
}

export interface PageView {
  /** The timeline SVG's box on screen, and its plot's x and width in its own units. */
  svg: { left: number; top: number; width: number; plotX: number; plotWidth: number; viewBoxWidth: number };
  axis: Array<{ run: number; from: string; to: string; x: number; width: number }>;
  lanes: Array<{ lane: string; top: number; height: number }>;
  bars: BarBox[];
  failureMarks: Array<{ lane: string; at: string; left: number; width: number; top: number }>;
  checkpointMarks: number;
  outcome: string;
  /** Whether the load chart has a line, and how many seconds it marks with failures. */
  loadDrawn: boolean;
  loadFailures: number;
  /** Errors the page logged or threw, and failed loads (a request the page made counts). */
  consoleErrors: string[];
  /** Every URL the page requested besides itself. */
  requests: string[];
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

const READ_PAGE = `(() => {
  const svg = document.querySelector("svg#timeline");
  const box = svg.getBoundingClientRect();
  const rect = (el) => el.getBoundingClientRect();
  return {
    svg: { left: box.left, top: box.top, width: box.width,
      plotX: Number(svg.dataset.plotX), plotWidth: Number(svg.dataset.plotWidth),
      viewBoxWidth: svg.viewBox.baseVal.width },
    axis: JSON.parse(svg.dataset.axis),
    lanes: [...svg.querySelectorAll("g.lane")].map((g) => ({ lane: g.dataset.lane,
      top: rect(g.querySelector("rect")).top, height: rect(g.querySelector("rect")).height })),
    bars: [...svg.querySelectorAll("rect.bar")].map((el) => ({ step: el.dataset.step, kind: el.dataset.kind,
      lane: el.dataset.lane, status: el.dataset.status, run: Number(el.dataset.run), start: el.dataset.start,
      end: el.dataset.end, left: rect(el).left, width: rect(el).width, top: rect(el).top, height: rect(el).height })),
    failureMarks: [...svg.querySelectorAll("g.failure-mark")].map((el) => ({ lane: el.dataset.lane,
      at: el.dataset.at, left: rect(el).left, width: rect(el).width, top: rect(el).top })),
    checkpointMarks: svg.querySelectorAll("g.checkpoint-mark").length,
    outcome: document.querySelector("#outcome").textContent,
    loadFailures: [...document.querySelectorAll("svg#load rect.load-failure")].length,
    loadDrawn: !!document.querySelector("svg#load path.load-line"),
  };
})()`;

/** Opens `file` in headless Chromium, reads it, saves a full-page PNG at `screenshot`. */
export async function viewReport(file: string, screenshot: string): Promise<PageView> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "gru-chromium-"));
  const browser = spawn(
    "chromium",
    [
      "--headless",
      "--remote-debugging-pipe",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--hide-scrollbars",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  browser.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const toBrowser = browser.stdio[3] as Writable;
  const fromBrowser = browser.stdio[4] as Readable;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  let buffered = "";
  fromBrowser.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    let end: number;
    while ((end = buffered.indexOf("\0")) >= 0) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined && waiting.has(message.id)) {
        const pending = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error) pending?.reject(new Error(message.error.message));
        else pending?.resolve(message);
      } else for (const listener of listeners) listener(message);
    }
  });
  const exited = new Promise<void>((resolve) => browser.on("close", () => resolve()));
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  const timeout = setTimeout(() => browser.kill("SIGKILL"), 60_000);
  try {
    const { targetInfos } = (await send("Target.getTargets")) as {
      targetInfos: Array<{ targetId: string; type: string }>;
    };
    const page = targetInfos.find((t) => t.type === "page");
    if (!page) throw new Error(`no page target in headless Chromium: ${stderr}`);
    const { sessionId } = (await send("Target.attachToTarget", {
      targetId: page.targetId,
      flatten: true,
    })) as {
      sessionId: string;
    };
    const consoleErrors: string[] = [];
    const requests: string[] = [];
    const url = `file://${path.resolve(file)}`;
    let loaded: () => void = () => undefined;
    const load = new Promise<void>((resolve) => (loaded = resolve));
    listeners.push((message) => {
      if (message.sessionId !== sessionId) return;
      const params = message.params ?? {};
      if (message.method === "Page.loadEventFired") loaded();
      if (message.method === "Runtime.consoleAPICalled" && params.type === "error")
        consoleErrors.push(`console.error: ${JSON.stringify(params.args)}`);
      if (message.method === "Runtime.exceptionThrown")
        consoleErrors.push(`exception: ${JSON.stringify(params.exceptionDetails)}`);
      if (message.method === "Log.entryAdded") {
        const entry = params.entry as { level?: string; text?: string; url?: string };
        if (entry.level === "error") consoleErrors.push(`log: ${entry.text ?? ""} ${entry.url ?? ""}`);
      }
      if (message.method === "Network.requestWillBeSent") {
        const request = params.request as { url: string };
        if (request.url !== url) requests.push(request.url);
      }
    });
    await send("Page.enable", {}, sessionId);
    await send("Runtime.enable", {}, sessionId);
    await send("Log.enable", {}, sessionId);
    await send("Network.enable", {}, sessionId);
    await send(
      "Emulation.setDeviceMetricsOverride",
      { width: 1200, height: 900, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    await send("Page.navigate", { url }, sessionId);
    await load;
    const evaluated = (await send(
      "Runtime.evaluate",
      { expression: READ_PAGE, returnByValue: true },
      sessionId,
    )) as { result: { value?: Omit<PageView, "consoleErrors" | "requests"> }; exceptionDetails?: unknown };
    if (!evaluated.result.value) throw new Error(`could not read the page: ${JSON.stringify(evaluated)}`);
    const { contentSize } = (await send("Page.getLayoutMetrics", {}, sessionId)) as {
      contentSize: { width: number; height: number };
    };
    const { data } = (await send(
      "Page.captureScreenshot",
      {
        format: "png",
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: 1200, height: Math.ceil(contentSize.height), scale: 1 },
      },
      sessionId,
    )) as { data: string };
    fs.writeFileSync(screenshot, Buffer.from(data, "base64"));
    return { ...evaluated.result.value, consoleErrors, requests };
  } finally {
    clearTimeout(timeout);
    await send("Browser.close").catch(() => undefined);
    const killer = setTimeout(() => browser.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killer);
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * Keeps a copy of a page and its screenshot under .work/e2e-reports/ (a test stack's run records
 * go with the stack), for a person to look at after the run.
 */
export function keepCopy(label: string, page: string, screenshot: string): void {
  const dir = path.join(PROJECT_ROOT, ".work", "e2e-reports");
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(page, path.join(dir, `${label}.html`));
  fs.copyFileSync(screenshot, path.join(dir, `${label}.png`));
  // The run records the page was drawn from (every run of the stack), to draw it again.
  const runs = path.dirname(path.dirname(page));
  fs.cpSync(runs, path.join(dir, `${label}-runs`), {
    recursive: true,
    filter: (source) => !/\.(html|png|log)$/.test(source),
  });
}

/**
 * Where a time falls on screen: the timeline's own axis (the runs side by side, each linear), in
 * screen pixels. Computed here from the page's declared plot and segments, not by the page's code.
 */
export function screenX(view: PageView, run: number, iso: string): number {
  const segment = view.axis[run];
  const t = Date.parse(iso);
  const from = Date.parse(segment.from);
  const to = Date.parse(segment.to);
  const units = segment.x + ((t - from) / (to - from)) * segment.width;
  const svgScale = view.svg.width / view.svg.viewBoxWidth;
  return view.svg.left + units * svgScale;
}
