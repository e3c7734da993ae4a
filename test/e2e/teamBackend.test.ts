/**
 * Team use: the stack's state on a shared S3 backend (moto server's S3), and the stack lock proven
 * under contention: while one operator's `up` upgrades the fleet, a second operator's `up` on the
 * same stack is refused at once, drains nothing and changes nothing; the first completes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../driver/environment";
import { LabState } from "../../lab/lab";
import { LAB_CREDENTIALS } from "../../lab/state";
import { LoadReport, startLoad } from "../../lab/load/client";
import { labStackConfig, LAB_SECRETS } from "../../lab/stack";
import { readTrustFunctionCreators } from "../../steps/db/privileges";
import type { TimelineEvent } from "../../steps/record";
import { DriverRun, readTimeline } from "../support/driverFixture";
import { freshLab, removeLab } from "../support/labFixture";
import {
  S3StateBackend,
  S3TestStack,
  s3StackKeys,
  startS3Backend,
  uniqueS3TestStack,
} from "../support/s3Backend";
import { drainStarts, expectZeroFailedRequests } from "../support/loadAssertions";

const PROJECT = "glance-rolling-upgrade";
const REFUSAL_BUDGET_MS = 15_000;
const FIRST_RUN_STEP_TIMEOUT_MS = 120_000;
const POLL_MS = 150;

/**
 * The second operator starts once the first run is draining a node of its first wave: a step the
 * second must not repeat, after the first has changed the database setting a refused run must keep.
 */
const CONTENDED_STEP = "node-2/drain";

interface Contention {
  first: DriverRun;
  second: DriverRun;
  secondMs: number;
  /** The machine's 1-minute load average when the refusal came (the refusal time is CPU-bound). */
  loadAverage: number;
  firstStillRunningWhenRefused: boolean;
  lockKeysWhileRunning: string[];
  trustWhenSecondStarted: boolean;
  trustAfterRefusal: boolean;
  load: LoadReport;
}

async function trustSetting(lab: LabState): Promise<boolean> {
  return readTrustFunctionCreators({
    host: "127.0.0.1",
    port: lab.ports.mariadb,
    user: LAB_CREDENTIALS.admin.user,
    password: LAB_CREDENTIALS.admin.password,
    database: LAB_CREDENTIALS.database,
  });
}

function runDirs(stack: S3TestStack): string[] {
  const dir = path.join(stack.folder, "runs");
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((name) => path.join(dir, name)) : [];
}

/** Polls a run's timeline until `done` holds; fails with the run's output if it ends first. */
async function waitForTimeline(
  timelineFile: string,
  done: (events: TimelineEvent[]) => boolean,
  running: () => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + FIRST_RUN_STEP_TIMEOUT_MS;
  while (!done(readTimeline(timelineFile))) {
    if (!running()) throw new Error(`the first run ended before ${what}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${FIRST_RUN_STEP_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Operator A runs `up`; once a step is under way, operator B runs `up` on the same stack. */
async function contendedUpgrade(
  stack: S3TestStack,
  lab: LabState,
  backend: S3StateBackend,
): Promise<Contention> {
  const load = startLoad({ baseUrl: lab.haproxy.frontendUrl, seedImages: lab.seedImages });
  const before = new Set(runDirs(stack));
  let firstRunning = true;
  const firstPromise = stack.driver("up").finally(() => (firstRunning = false));
  const firstDir = runDirs(stack).find((dir) => !before.has(dir));
  if (!firstDir) throw new Error("the first run made no run directory");

  await waitForTimeline(
    path.join(firstDir, "timeline.jsonl"),
    (events) => events.some((e) => e.step === CONTENDED_STEP && e.event === "start"),
    () => firstRunning,
    `${CONTENDED_STEP} started`,
  );
  const lockKeysWhileRunning = await backend.keys(s3StackKeys(PROJECT, stack.name).lockDir);
  const trustWhenSecondStarted = await trustSetting(lab);

  const started = Date.now();
  const second = await stack.driver("up");
  const secondMs = Date.now() - started;
  const loadAverage = os.loadavg()[0];
  const firstStillRunningWhenRefused = firstRunning;
  const trustAfterRefusal = await trustSetting(lab);

  const first = await firstPromise;
  return {
    first,
    second,
    secondMs,
    loadAverage,
    firstStillRunningWhenRefused,
    lockKeysWhileRunning,
    trustWhenSecondStarted,
    trustAfterRefusal,
    load: await load.stop(),
  };
}

describe("team use: the state on a shared S3 backend, with the stack lock under contention", () => {
  let backend: S3StateBackend;
  let lab: LabState;
  let stack: S3TestStack;
  let trustBefore: boolean;
  let run: Contention;

  beforeAll(async () => {
    backend = await startS3Backend();
    lab = await freshLab(3);
    trustBefore = await trustSetting(lab);
    stack = uniqueS3TestStack("e2e-s3", labStackConfig(lab, { transport: "local" }), LAB_SECRETS, backend);
    run = await contendedUpgrade(stack, lab, backend);
  });

  afterAll(async () => {
    stack?.remove();
    await removeLab(lab);
    await backend?.stop();
  });

  it("the first up completes with its state and lock in the S3 bucket, not in the local file backend", async () => {
    expect(run.first.code, run.first.stdout + run.first.stderr).toBe(0);
    const keys = s3StackKeys(PROJECT, stack.name);
    expect(run.lockKeysWhileRunning, "the first run's lock object in the bucket").toHaveLength(1);
    expect(await backend.keys(keys.lockDir), "lock released after the run").toEqual([]);
    expect(await backend.keys(".pulumi/stacks/")).toContain(keys.state);
    const state = JSON.parse(await backend.read(keys.state)) as {
      checkpoint?: { latest?: { resources?: Array<{ urn: string }> } };
    };
    const urns = (state.checkpoint?.latest?.resources ?? []).map((r) => r.urn);
    expect(urns.some((urn) => urn.endsWith("::db/restore-setting"))).toBe(true);
    const localState = path.join(
      PROJECT_ROOT,
      ".work",
      "state",
      ".pulumi",
      "stacks",
      PROJECT,
      `${stack.name}.json`,
    );
    expect(fs.existsSync(localState), `${localState} should not exist`).toBe(false);
  });

  it("a second up on the same stack is refused with the lock message within seconds, without waiting", () => {
    const output = run.second.stdout + run.second.stderr;
    expect(run.second.code, output).not.toBe(0);
    expect(output).toMatch(/locked/);
    expect(
      run.secondMs,
      `refused after ${run.secondMs} ms at load average ${run.loadAverage.toFixed(1)} on ${os.cpus().length} cores`,
    ).toBeLessThan(REFUSAL_BUDGET_MS);
    expect(run.firstStillRunningWhenRefused, "the refusal came while the first run was still going").toBe(
      true,
    );
  });

  it("nothing ran twice: the refused run's timeline is empty and each drain ran once", () => {
    expect(run.second.timeline).toEqual([]);
    const drains = run.first.timeline.filter((e) => e.event === "start" && e.step.endsWith("/drain"));
    expect(drains.map((e) => e.step).sort()).toEqual(["node-1/drain", "node-2/drain", "node-3/drain"]);
    const starts = run.first.timeline.filter((e) => e.event === "start").map((e) => e.step);
    expect(starts.length).toBe(new Set(starts).size);
  });

  it("the refused run left the database setting as the running upgrade had set it", async () => {
    expect(run.trustWhenSecondStarted, "the first run had set log_bin_trust_function_creators").toBe(true);
    const secondTail = run.second.stdout.split("\n").slice(-8).join("\n");
    expect(run.trustAfterRefusal, `the refused run changed the setting:\n${secondTail}`).toBe(true);
    expect(run.second.stdout).not.toMatch(/restored to/);
    expect(await trustSetting(lab), "restored by the first run when it finished").toBe(trustBefore);
  });

  it("the fleet served throughout: 0 failed client requests", () => {
    expectZeroFailedRequests(run.load, {
      minRequests: 100,
      haproxyLog: lab,
      drains: drainStarts(run.first.timeline),
    });
  });
});
