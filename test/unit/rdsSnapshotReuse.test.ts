/**
 * An existing `<instance>-before-<release>` snapshot is this run's backup only if it was taken for
 * this upgrade (finding 6 of issue 30): the rule by table, then how the program wires its reference
 * (the preflight's start, pinned by ignoreChanges) and the acknowledgement key.
 */
import { describe, expect, it } from "vitest";
import { CLOCK_SKEW_SECONDS, existingSnapshotVerdict } from "../../steps/backup/rdsSnapshot";
import { configErrorOf, haproxyStack } from "./fixtures";
import { PREFLIGHT_STARTED_AT, runMockProgram, stackConfig } from "./support/mockProgram";

const START = "2026-03-02T10:00:00.000Z";
const at = (offsetSeconds: number) => new Date(Date.parse(START) + offsetSeconds * 1000);
const request = { snapshotIdentifier: "glance-db-before-2024-1", dbInstanceIdentifier: "glance-db" };

describe("reusing an existing RDS snapshot", () => {
  const available = (offsetSeconds: number) => ({
    Status: "available",
    SnapshotCreateTime: at(offsetSeconds),
  });
  const cases: Array<[string, Parameters<typeof existingSnapshotVerdict>[0], object, boolean]> = [
    [
      "taken after this upgrade began (a rerun of its own backup)",
      available(40),
      { upgradeStartedAt: START },
      true,
    ],
    [
      "taken just before it, within the clock skew allowed",
      available(-CLOCK_SKEW_SECONDS),
      { upgradeStartedAt: START },
      true,
    ],
    [
      "taken before it (an earlier attempt)",
      available(-CLOCK_SKEW_SECONDS - 1),
      { upgradeStartedAt: START },
      false,
    ],
    ["taken weeks before it", available(-21 * 86_400), { upgradeStartedAt: START }, false],
    [
      "taken before it, acknowledged with its exact time",
      available(-86_400),
      { upgradeStartedAt: START, acceptSnapshotCreatedAt: at(-86_400).toISOString() },
      true,
    ],
    [
      "taken before it, acknowledged with the same instant in another offset",
      available(-86_400),
      { upgradeStartedAt: START, acceptSnapshotCreatedAt: "2026-03-01T11:00:00+01:00" },
      true,
    ],
    [
      "taken before it, with an acknowledgement of another snapshot's time",
      available(-86_400),
      { upgradeStartedAt: START, acceptSnapshotCreatedAt: at(-86_401).toISOString() },
      false,
    ],
    [
      "being created (no time yet): a run of this very step",
      { Status: "creating" },
      { upgradeStartedAt: START },
      true,
    ],
    ["available with no time at all", { Status: "available" }, { upgradeStartedAt: START }, false],
    // A backup that ran under the code before this rule recorded no start: it was this upgrade's.
    ["with no recorded start (state from before the rule)", available(-21 * 86_400), {}, true],
  ];
  it.each(cases)("%s", (_name, snapshot, extra, reused) => {
    const verdict = existingSnapshotVerdict(snapshot, { ...request, ...extra });
    expect("reuse" in verdict).toBe(reused);
  });

  it("the refusal names the snapshot, its time, the upgrade's start and both fixes", () => {
    const verdict = existingSnapshotVerdict(available(-86_400), { ...request, upgradeStartedAt: START });
    if (!("refuse" in verdict)) throw new Error("expected a refusal");
    expect(verdict.refuse.message).toBe(
      'snapshot "glance-db-before-2024-1" of glance-db was taken at 2026-03-01T10:00:00.000Z, before this upgrade ' +
        "began (2026-03-02T10:00:00.000Z), so it is not this upgrade's backup: a restore from it would lose every " +
        "change since. Nothing was changed. Either delete it and rerun, which takes a fresh snapshot (keep a copy " +
        "first if you need one: aws rds copy-db-snapshot --source-db-snapshot-identifier glance-db-before-2024-1 " +
        "--target-db-snapshot-identifier glance-db-before-2024-1-kept): aws rds delete-db-snapshot " +
        "--db-snapshot-identifier glance-db-before-2024-1. Or, if you know the database has not changed since it " +
        'was taken and want it as this upgrade\'s backup, set backup.acceptSnapshotCreatedAt: "2026-03-01T10:00:00.000Z" ' +
        "in the stack config and rerun.",
    );
  });
});

describe("the program's db/backup request for an RDS snapshot", () => {
  const rds = { type: "rds-snapshot", dbInstanceIdentifier: "glance-db", region: "eu-west-1" };
  const backupOf = async (backup: Record<string, unknown>) => {
    // TLS on, as an RDS backup requires (or acknowledge.databaseWithoutTls).
    const database = { host: "db.internal", user: "glance", adminUser: "admin", tls: true };
    const { registrations } = await runMockProgram(stackConfig(2, { backup, database }, "alb"), {
      dbPassword: "secret",
      dbAdminPassword: "secret",
    });
    const step = registrations.find((r) => r.name === "db/backup");
    if (!step) throw new Error("no db/backup registered");
    return step;
  };

  it("carries the preflight's start, pinned by ignoreChanges to the value it first ran with", async () => {
    const step = await backupOf(rds);
    expect(step.inputs?.request).toMatchObject({
      kind: "backup-rds",
      snapshotIdentifier: "glance-db-before-2024-1",
      upgradeStartedAt: PREFLIGHT_STARTED_AT,
    });
    expect(step.opts.ignoreChanges).toEqual(["request.upgradeStartedAt"]);
    expect(step.inputs?.request).not.toHaveProperty("acceptSnapshotCreatedAt");
  });

  it("passes backup.acceptSnapshotCreatedAt through; a mysqldump backup has neither", async () => {
    const accepted = await backupOf({ ...rds, acceptSnapshotCreatedAt: "2026-03-01T10:00:00.000Z" });
    expect(accepted.inputs?.request).toMatchObject({ acceptSnapshotCreatedAt: "2026-03-01T10:00:00.000Z" });
    const dump = await backupOf({ type: "mysqldump", path: "/var/backups/glance-{release}.sql" });
    expect(dump.inputs?.request).not.toHaveProperty("upgradeStartedAt");
    expect(dump.opts.ignoreChanges ?? []).toEqual([]);
  });

  it("refuses an acknowledgement that is not a time, naming the key", () => {
    const problems = configErrorOf(
      haproxyStack(2, { backup: { ...rds, acceptSnapshotCreatedAt: "last tuesday" } }),
    ).problems.join("\n");
    expect(problems).toContain("backup.acceptSnapshotCreatedAt");
    expect(problems).toContain('use the time the refusal printed, e.g. "2026-01-31T09:15:02.000Z"');
  });
});
