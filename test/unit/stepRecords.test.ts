/**
 * Typed step results and the one step record: a step's result is read by its kind's type (also as
 * older versions stored it), a failed step carries a reason beside its message, and the same record
 * reaches the timeline, the driver's live record and the summary.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { progressEvent, RunProgress } from "../../driver/progress";
import { renderSummary, summaryRecords, type Summary } from "../../driver/summary";
import { pollUntil, silentContext, StepError } from "../../steps/context";
import { StepInputs, stepProviderMethods } from "../../steps/execute";
import { failureOf } from "../../steps/failure";
import { waitHealthy } from "../../steps/health";
import { runScript } from "../../steps/exec/run";
import { CapacityRefusal } from "../../steps/lb/takeOut";
import { registerLoadBalancer } from "../../steps/lb/registry";
import { applyEvent, recordFromStored, recordsOf, type StepEvent } from "../../steps/progress";
import type { StepRequest } from "../../steps/protocol";
import { readTimeline } from "../../steps/record";
import { readAs, readResult, resultKindOfStepId } from "../../steps/results";
import { fakeLoadBalancer } from "./support/fakeLoadBalancer";

const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 10, 0, 0) + s * 1000).toISOString();

describe("a step's result, read as its kind's type", () => {
  it("the preflight's versions before: an object now, the JSON string older versions stored reads the same", () => {
    const versions = { "node-1": "27.1.1", "node-2": "27.1.1" };
    expect(readAs("preflight", { versionsBefore: versions }).versionsBefore).toEqual(versions);
    expect(readAs("preflight", { versionsBefore: JSON.stringify(versions) }).versionsBefore).toEqual(
      versions,
    );
    // A string that is no JSON leaves the field out, not the rest of the result.
    expect(readAs("preflight", { versionsBefore: "{not json", binlogEnabled: true })).toEqual({
      binlogEnabled: true,
    });
  });

  it("a field of another type is left out, the others stay; an unknown kind reads as none", () => {
    expect(readAs("drain", { drainSeconds: "2", alreadyOut: false, sessionsAtStart: 3 })).toEqual({
      alreadyOut: false,
      sessionsAtStart: 3,
    });
    expect(readResult("drain", { drainSeconds: 1.5 })).toEqual({ drain: { drainSeconds: 1.5 } });
    expect(readResult("no-such-kind", { drainSeconds: 1.5 })).toEqual({});
    expect(readResult("drain", null)).toEqual({});
    // A backup reads as whichever of its shapes it holds.
    expect(readAs("backup", { path: "/b.sql", bytes: 10, sha256: "ab" })).toEqual({
      path: "/b.sql",
      bytes: 10,
      sha256: "ab",
    });
    expect(readAs("backup", { snapshotArn: "arn:x", snapshotIdentifier: "s" })).toEqual({
      snapshotArn: "arn:x",
      snapshotIdentifier: "s",
    });
  });

  it("the kind comes from the step id operators know", () => {
    const cases: Array<[string, string | undefined]> = [
      ["preflight", "preflight"],
      ["db/backup", "backup"],
      ["db/verify", "verify-migrations"],
      ["fleet/verify", "fleet-verify"],
      ["node-2/version", "version"],
      ["node-2/drain", "drain"],
      ["rollback/node-2/admit", "admit"],
      ["node-2", undefined],
    ];
    for (const [id, kind] of cases) expect(resultKindOfStepId(id), id).toBe(kind);
  });
});

const drainRequest = (drainTimeoutSeconds: number): StepRequest => ({
  kind: "drain",
  lb: { type: "haproxy", runtimeApi: "/x", backend: "b", server: "s" } as never,
  minHealthy: 1,
  drainTimeoutSeconds,
});

describe("a failed step's reason", () => {
  it("the thrower's reason first, then a capacity refusal, then the step's kind and bound", () => {
    const refusal = new CapacityRefusal("would leave 0 serving", {
      mayLeave: false,
      reason: "TooFewServing",
      servingOthers: [],
      minHealthy: 1,
    });
    const cases: Array<[string, StepRequest, unknown, number, string]> = [
      [
        "named by the thrower",
        { kind: "script" } as StepRequest,
        new StepError("x", undefined, "ScriptTimeout"),
        1,
        "ScriptTimeout",
      ],
      ["a capacity refusal", drainRequest(30), refusal, 0.1, "CapacityBelowFloor"],
      // A drain that failed once its bound had passed: its requests did not end in time.
      ["a drain past its bound", drainRequest(30), new StepError("did not finish"), 30.2, "DrainTimeout"],
      // Negative control: the same failure before the bound is no timeout.
      ["a drain before its bound", drainRequest(30), new StepError("runtime API lost"), 2, "DrainFailed"],
      [
        "an admit past its health bound",
        { kind: "admit", lb: {}, healthTimeoutSeconds: 10 } as StepRequest,
        new Error("x"),
        10,
        "HealthCheckFailed",
      ],
      [
        "an admit before it",
        { kind: "admit", lb: {}, healthTimeoutSeconds: 10 } as StepRequest,
        new Error("x"),
        1,
        "AdmitFailed",
      ],
      ["a bake", { kind: "bake" } as StepRequest, new StepError("over budget"), 5, "BakeFailed"],
      ["the preflight", { kind: "preflight" } as StepRequest, new Error("x"), 1, "PreflightFailed"],
      ["a backup", { kind: "backup-rds" } as StepRequest, new Error("x"), 1, "BackupFailed"],
      ["a setting", { kind: "restore-setting" } as StepRequest, new Error("x"), 1, "SettingFailed"],
    ];
    for (const [what, request, error, seconds, reason] of cases) {
      expect(failureOf(request, error, seconds).reason, what).toBe(reason);
    }
    expect(failureOf(drainRequest(30), new StepError("did not finish"), 31).message).toBe("did not finish");
  });

  it("the steps name their reason where they know it", async () => {
    const script = (text: string, timeoutSeconds = 10) =>
      runScript({ transport: "local", script: text, timeoutSeconds }, silentContext);
    await expect(script("exit 3")).rejects.toMatchObject({ reason: "ScriptFailed" });
    await expect(script("sleep 5", 1)).rejects.toMatchObject({ reason: "ScriptTimeout" });
    await expect(script("echo ok")).resolves.toMatchObject({ exitCode: 0 });
    // A port nothing listens on: the health URL never answers.
    const port = await freePort();
    await expect(
      waitHealthy(
        { url: `http://127.0.0.1:${port}/healthcheck`, timeoutSeconds: 0.3, intervalMs: 50 },
        silentContext,
      ),
    ).rejects.toMatchObject({ reason: "HealthCheckFailed" });
    // A wait whose caller named no reason carries none (the step's kind decides).
    await expect(
      pollUntil(async () => undefined, { timeoutMs: 50, intervalMs: 10, describe: () => "never" }),
    ).rejects.toMatchObject({ reason: undefined });
  }, 20_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

describe("the step record, folded from its events", () => {
  const meta = { step: "node-2/drain", kind: "drain", node: "node-2", release: "2024.1" };
  const events: StepEvent[] = [
    { event: "start", ...meta, at: at(0) },
    { event: "progress", ...meta, at: at(1), message: "[node-2/drain] +1.0s waiting" },
    { event: "end", ...meta, at: at(2), seconds: 2, result: { drainSeconds: 2, alreadyOut: false } },
  ];

  it("start, progress and end: a running record, then a done one with its typed result", () => {
    const running = applyEvent(applyEvent(undefined, events[0]), events[1]);
    expect(running).toMatchObject({
      status: "running",
      startedAt: at(0),
      lastMessage: "[node-2/drain] +1.0s waiting",
    });
    expect(recordsOf(events)).toEqual([
      {
        ...meta,
        status: "done",
        startedAt: at(0),
        endedAt: at(2),
        seconds: 2,
        result: { drain: { drainSeconds: 2, alreadyOut: false } },
      },
    ]);
  });

  it("a fail carries its reason beside its message; a timeline from before reasons reads as StepFailed", () => {
    const failed = recordsOf([
      events[0],
      { event: "fail", ...meta, at: at(30), seconds: 30, error: "did not finish", reason: "DrainTimeout" },
    ]);
    expect(failed[0]).toMatchObject({
      status: "failed",
      endedAt: at(30),
      failure: { reason: "DrainTimeout", message: "did not finish" },
    });
    const old = recordsOf([events[0], { event: "fail", ...meta, at: at(30), error: "did not finish" }]);
    expect(old[0].failure).toEqual({ reason: "StepFailed", message: "did not finish" });
  });

  it("a state's stored outcome reads back into the same record; a step that never ran has none", () => {
    expect(
      recordFromStored("node-2/drain", {
        startedAt: at(0),
        endedAt: at(2),
        seconds: 2,
        result: { drainSeconds: 2 },
      }),
    ).toEqual({
      step: "node-2/drain",
      kind: "drain",
      node: "node-2",
      status: "done",
      startedAt: at(0),
      endedAt: at(2),
      seconds: 2,
      result: { drain: { drainSeconds: 2 } },
    });
    expect(recordFromStored("node-1/provision", { startedAt: "", endedAt: "", seconds: 0, result: {} })).toBe(
      undefined,
    );
  });
});

describe("the summary reads typed records", () => {
  const versions = { "node-1": "27.1.1", "node-2": "27.1.1" };
  const ran = (start: number, end: number, result: unknown = {}) => ({
    startedAt: at(start),
    endedAt: at(end),
    seconds: end - start,
    result,
  });
  const summary = (versionsBefore: unknown): Summary => ({
    preflight: ran(0, 1, { versionsBefore }),
    "node-1/drain": ran(2, 2.5, { drainSeconds: 0.5, alreadyOut: false, sessionsAtStart: 2 }),
    "node-1/admit": ran(8, 9, { admitSeconds: 1 }),
    "node-1/version": ran(10, 11, { exitCode: 0, stdout: "28.2.0", scriptSeconds: 1 }),
    "node-1/provision": { startedAt: "", endedAt: "", seconds: 0, result: {} },
  });

  it("a state written by today's main (versionsBefore as a JSON string) renders as one written now", () => {
    const old = renderSummary(summary(JSON.stringify(versions)));
    expect(old).toBe(renderSummary(summary(versions)));
    expect(old).toContain("  node-1          0.5 s            7.0 s  27.1.1 -> 28.2.0");
    expect(old).toContain(
      "  node-1/drain             10:00:02     0.5 s  drainSeconds=0.50 sessionsAtStart=2",
    );
    expect(old).not.toContain("FAILED");
  });

  it("a failed step shows its reason code in the step list", () => {
    const records = new Map(summaryRecords(summary(versions)));
    const [failed] = recordsOf([
      { event: "start", step: "node-2/drain", kind: "drain", node: "node-2", release: "r", at: at(12) },
      {
        event: "fail",
        step: "node-2/drain",
        kind: "drain",
        node: "node-2",
        release: "r",
        at: at(42),
        seconds: 30,
        error: "x",
        reason: "DrainTimeout",
      },
    ]);
    records.set("node-2/drain", failed);
    expect(renderSummary(records)).toContain(
      "  node-2/drain             10:00:12    30.0 s  FAILED reason=DrainTimeout",
    );
  });
});

describe("from the provider's step to the driver's record and summary (run records)", () => {
  const target = { type: "fake-records", pool: "p", member: "m2" };
  let tmp: string;
  let unregister: () => void;
  let drain: (bounds: { drainTimeoutSeconds: number }) => Promise<never>;

  beforeEach(() => {
    tmp = mkdtempSync(path.join(tmpdir(), "gru-records-"));
    process.env.GRU_PROGRESS_FILE = path.join(tmp, "progress.jsonl");
    process.env.GRU_TIMELINE_FILE = path.join(tmp, "timeline.jsonl");
    const fake = fakeLoadBalancer(["m1", "m2"]);
    unregister = registerLoadBalancer("fake-records", {
      ...fake,
      drain: (_target, bounds, _secrets, ctx) => {
        ctx.log("waiting for m2's sessions to end");
        return drain(bounds);
      },
    });
  });

  afterEach(() => {
    unregister();
    delete process.env.GRU_PROGRESS_FILE;
    delete process.env.GRU_TIMELINE_FILE;
    rmSync(tmp, { recursive: true, force: true });
  });

  const inputs = (drainTimeoutSeconds: number): StepInputs =>
    JSON.parse(
      JSON.stringify({
        step: "node-2/drain",
        kind: "drain",
        node: "node-2",
        release: "2024.1",
        request: { kind: "drain", lb: target, minHealthy: 1, drainTimeoutSeconds },
      }),
    ) as StepInputs;

  /** What the driver prints and keeps while following the run's progress file. */
  function follow(): { printed: string[]; progress: RunProgress; stop(): void } {
    const progress = new RunProgress();
    const printed: string[] = [];
    progress.subscribe((event) => {
      if (event.message !== undefined) printed.push(event.message);
    });
    const following = progress.follow(path.join(tmp, "progress.jsonl"), 20);
    return { printed, progress, stop: following.stop };
  }

  it("a drain that outlives its bound: DrainTimeout in the timeline, the live record and the summary", async () => {
    drain = async ({ drainTimeoutSeconds }) => {
      await new Promise((resolve) => setTimeout(resolve, drainTimeoutSeconds * 1000 + 50));
      throw new StepError("drain of m2 did not finish within 0.2 s", "server m2 left in DRAIN");
    };
    const driver = follow();
    const seen: string[] = [];
    driver.progress.subscribe((event, record) => seen.push(`${event.event}:${record?.status ?? "-"}`));
    await expect(stepProviderMethods.create(inputs(0.2))).rejects.toThrow("did not finish");
    driver.stop();

    const timeline = readTimeline(path.join(tmp, "timeline.jsonl"));
    expect(timeline.map((e) => e.event)).toEqual(["start", "fail"]);
    expect(timeline[1]).toMatchObject({
      reason: "DrainTimeout",
      error: "drain of m2 did not finish within 0.2 s",
    });
    expect(
      timeline.every((e) => e.message === undefined),
      "the timeline keeps its lines without the printed text",
    ).toBe(true);

    expect(seen).toEqual(["start:running", "progress:running", "fail:failed"]);
    expect(driver.printed[0]).toMatch(/^\[node-2\/drain\] \+0\.0s started$/);
    expect(driver.printed[1]).toMatch(/waiting for m2's sessions to end$/);
    expect(driver.printed[2]).toMatch(/FAILED: drain of m2 did not finish within 0.2 s$/);
    expect(driver.progress.records.get("node-2/drain")).toMatchObject({
      status: "failed",
      failure: { reason: "DrainTimeout", message: "drain of m2 did not finish within 0.2 s" },
    });
    expect(renderSummary(driver.progress.records)).toMatch(
      /node-2\/drain +\d\d:\d\d:\d\d +0\.\d s +FAILED reason=DrainTimeout/,
    );
  });

  it("negative control: the same failure well inside the bound is DrainFailed, not DrainTimeout", async () => {
    drain = async () => {
      throw new StepError("the runtime API went away");
    };
    const driver = follow();
    await expect(stepProviderMethods.create(inputs(30))).rejects.toThrow("went away");
    driver.stop();
    expect(readTimeline(path.join(tmp, "timeline.jsonl"))[1]).toMatchObject({ reason: "DrainFailed" });
    expect(renderSummary(driver.progress.records)).toContain("FAILED reason=DrainFailed");
    expect(renderSummary(driver.progress.records)).not.toContain("DrainTimeout");
  });

  it("a capacity refusal is CapacityBelowFloor", async () => {
    drain = async () => {
      throw new CapacityRefusal("taking m2 out would leave 0 serving", {
        mayLeave: false,
        reason: "TooFewServing",
        servingOthers: [],
        minHealthy: 1,
      });
    };
    const driver = follow();
    await expect(stepProviderMethods.create(inputs(30))).rejects.toThrow("would leave 0 serving");
    driver.stop();
    expect(driver.progress.records.get("node-2/drain")?.failure?.reason).toBe("CapacityBelowFloor");
  });

  it("a progress file written before its lines carried their event still prints, and makes no record", () => {
    const file = path.join(tmp, "progress.jsonl");
    writeFileSync(
      file,
      `${JSON.stringify({ at: at(0), step: "node-2/drain", message: "[node-2/drain] +0.0s started" })}\n`,
    );
    appendFileSync(file, "not json\n");
    const driver = follow();
    driver.stop();
    expect(driver.printed).toEqual(["[node-2/drain] +0.0s started", "not json"]);
    expect(driver.progress.records.size).toBe(0);
    expect(progressEvent("{}").message).toBe("{}");
    expect(readFileSync(file, "utf8")).toContain("not json");
  });
});

describe("`report` on a state written before typed results", () => {
  it("renders the summary output of the legacy fixture exactly as main's renderer (29590a9) did", () => {
    const fixture = path.join(__dirname, "..", "e2e", "fixtures", "legacy-state", "checkpoint.json");
    const state = JSON.parse(readFileSync(fixture, "utf8")) as {
      deployment: { resources: Array<{ type: string; outputs?: { summary?: Summary } }> };
    };
    const summary = state.deployment.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs
      ?.summary;
    expect(summary).toBeDefined();
    // Produced by driver/summary.ts at 29590a9 from the same output (node dist/driver/summary.js).
    expect(renderSummary(summary ?? {}).split("\n")).toEqual([
      "Steps (in the order they ran):",
      "  preflight                10:27:45     1.0 s  ",
      "  db/backup                10:27:47     0.4 s  bytes=3653 sha256=4ac24f26972eef1147d825fc47465170220f04a3d5675be956a9f5d61d2144ec",
      "  node-1/drain             10:27:47     0.1 s  drainSeconds=0.00 importSeconds=0 importsWaitedFor= importsLeftRunning= stagedHere= sessionsAtStart=0",
      "  node-1/stop              10:27:47     0.1 s  stdout=glance stopped on node-1",
      "  node-1/upgrade           10:27:47     0.1 s  stdout=node-1 now has glance 28.2.0 (release 2024.1)",
      "  node-1/upgrade-check     10:27:48     0.1 s  stdout=glance-status upgrade check: success",
      "  db/allow-functions       10:27:48     0.3 s  previous=false changed=true",
      "  db/expand                10:27:49     0.1 s  stdout=",
      "  db/migrate               10:27:49     0.0 s  stdout=",
      "  db/verify                10:27:49     0.1 s  stdout=migrations verified: db check exit 0 (0 up to date, 5 contract pending)",
      "  node-1/start             10:27:50     0.0 s  healthySeconds=0.00 stdout=",
      "  node-1/admit             10:27:50     0.3 s  admitSeconds=0.30",
      "",
      "Nodes:",
      "  node            drain  out of rotation  release before -> after",
      "  node-1          0.0 s            3.3 s  28.2.0 -> ?",
      "",
      "Database: expand 10:27:49 (0.1 s), migrate 10:27:49 (0.0 s), contract - (-)",
      "Total: 4.9 s",
    ]);
  });
});
