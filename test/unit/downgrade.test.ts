/**
 * Finding 10: after a finished upgrade to 2024.1, targetRelease set back to 2023.2 and `up` run
 * drained and reinstalled node-1 with 27.1.1, then failed at db expand. The preflight, which reads
 * every node's version before anything changes, now refuses a target older than any node reports.
 * `rollback` installs an older release on purpose: it runs no preflight, so the refusal cannot block it.
 */
import { describe, expect, it } from "vitest";
import { RollingRollback } from "../../components/rollback";
import { readStackConfig } from "../../plan/config/read";
import { PREFLIGHT_STEP } from "../../plan/stepIds";
import { downgradeProblem } from "../../steps/preflight";
import { runMockProgram, stackConfig } from "./support/mockProgram";

const OLDER = { release: "2023.2", version: "27.1.1" };
const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

describe("the preflight's downgrade refusal", () => {
  it("refuses the finding's case, naming every newer node, rollback and the restore", () => {
    const problem = downgradeProblem(OLDER, {
      "node-1": "28.2.0",
      "node-2": "28.2.0-0ubuntu1~cloud0",
      "node-3": "27.1.1",
    });
    expect(problem).toBe(
      "downgrade refused: targetVersion 27.1.1 (targetRelease 2023.2) is older than what node-1 reports 28.2.0, node-2 reports 28.2.0-0ubuntu1~cloud0, " +
        "and up only upgrades (it would reinstall the older release on each drained node, then fail at db expand on the newer schema). " +
        "To go back: set targetRelease and targetVersion back to the release the nodes run, set rollbackTo to {release: 2023.2, version: 27.1.1} " +
        "and run the driver's `rollback` (refused once db contract has run for the newer release); after contract, restore the pre-upgrade backup instead (README: When an upgrade fails)",
    );
  });

  it("refuses when ANY node is newer, even one (a half-finished upgrade, then an older target)", () => {
    expect(downgradeProblem(OLDER, { "node-1": "28.2.0", "node-2": "27.1.1" })).toContain(
      "older than what node-1 reports 28.2.0, and up only upgrades",
    );
  });

  it("passes an upgrade, a rerun on the target, and a version it cannot read (negative controls)", () => {
    const target = { release: "2024.1", version: "28.2.0" };
    expect(downgradeProblem(target, { "node-1": "27.1.1", "node-2": "27.1.1" })).toBeUndefined();
    expect(downgradeProblem(target, { "node-1": "28.2.0", "node-2": "28.2.0-0ubuntu1" })).toBeUndefined();
    expect(downgradeProblem(target, { "node-1": "glance 29.0.0" })).toBeUndefined();
  });
});

describe("what the preflight is given, and what rollback runs", () => {
  it("the preflight step's request carries the target release and version from the config", async () => {
    const { registrations } = await runMockProgram(
      stackConfig(3, { targetRelease: "2023.2", targetVersion: "27.1.1" }),
      SECRETS,
    );
    const preflight = registrations.find((r) => r.name === PREFLIGHT_STEP && r.inputs !== undefined);
    const request = preflight?.inputs?.request as Record<string, unknown> | undefined;
    expect(request?.target).toEqual(OLDER);
  });

  it("rollback registers no preflight: the refusal cannot stop a rollback to an older release", async () => {
    const config = stackConfig(3, { rollbackTo: OLDER });
    await runMockProgram(config, SECRETS);
    const names: string[] = [];
    new RollingRollback(
      "glance-rollback",
      { ...readStackConfig(), nodes: ["node-1", "node-2"] },
      {
        transformations: [
          (args) => {
            names.push(args.name);
            return undefined;
          },
        ],
      },
    );
    expect(names.length).toBeGreaterThan(0);
    expect(names).not.toContain(PREFLIGHT_STEP);
    expect(names.filter((n) => n.includes("preflight"))).toEqual([]);
  });
});
