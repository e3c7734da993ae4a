import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { engineEnvironment, RunFiles } from "../../driver/environment";

const scratch = mkdtempSync(path.join(tmpdir(), "gru-engine-env-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const files: RunFiles = {
  dir: scratch,
  progress: path.join(scratch, "progress.log"),
  timeline: path.join(scratch, "timeline.jsonl"),
};

describe("the engine's environment", () => {
  it("lets a preview skip the per-step snapshot checkpoints, which make it quadratic in the fleet", () => {
    const env = engineEnvironment("/opt/pulumi", "prod", files, { previewOnly: true });
    expect(env.PULUMI_SKIP_CHECKPOINTS).toBe("true");
  });

  it("never lets an update skip them, even when the shell says so: a killed run resumes from its last checkpoint", () => {
    process.env.PULUMI_SKIP_CHECKPOINTS = "true";
    onTestFinished(() => {
      delete process.env.PULUMI_SKIP_CHECKPOINTS;
    });
    for (const env of [
      engineEnvironment("/opt/pulumi", "prod", files),
      engineEnvironment("/opt/pulumi", "prod", files, { previewOnly: false }),
    ]) {
      expect(env.PULUMI_SKIP_CHECKPOINTS).toBe("false");
      expect(env.GRU_TIMELINE_FILE).toBe(files.timeline);
      expect(env.PATH.startsWith("/opt/pulumi/bin:")).toBe(true);
    }
  });
});
