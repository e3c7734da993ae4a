/**
 * log_bin_trust_function_creators on every Galera member (steps/db/memberTrust.ts): the requests the
 * program builds with database.galeraMembers (and exactly today's without), what the restore says
 * when a member cannot be reached, and the summary's per-member section.
 */
import { afterEach, describe, expect, it } from "vitest";
import { galeraLines } from "../../driver/summary";
import { silentContext, StepError } from "../../steps/context";
import { describeMember } from "../../steps/db/galera";
import { memberKey, recheckOnMembers, restoreOnMembers } from "../../steps/db/memberTrust";
import { recordFromStored, type StepRecord } from "../../steps/progress";
import { mockStepResults, runMockProgram, stackConfig } from "./support/mockProgram";

const MEMBERS = ["10.0.0.11:3306", "10.0.0.12:3307", "10.0.0.13"];
const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret" } as const;

function galeraConfig(members: string[] | null = MEMBERS): Record<string, unknown> {
  const base = stackConfig(3);
  const database = base.database as Record<string, unknown>;
  return { ...base, database: members ? { ...database, galeraMembers: members } : database };
}

async function requests(
  config: Record<string, unknown>,
  secrets: Parameters<typeof runMockProgram>[1] = SECRETS,
): Promise<Map<string, Record<string, unknown>>> {
  const { registrations } = await runMockProgram(config, secrets);
  return new Map(
    registrations
      .filter((r) =>
        ["db/backup", "db/allow-functions", "fleet/verify", "db/restore-setting"].includes(r.name),
      )
      .map((r) => [r.name, (r.inputs?.request ?? {}) as Record<string, unknown>]),
  );
}

describe("memberKey", () => {
  it("names a member host:port, IPv6 in brackets", () => {
    expect(memberKey({ host: "10.0.0.11", port: 3306 })).toBe("10.0.0.11:3306");
    expect(memberKey({ host: "fd00::1", port: 3307 })).toBe("[fd00::1]:3307");
  });
});

describe("the program's requests with database.galeraMembers (real program, mocked engine)", () => {
  afterEach(() => mockStepResults.clear());

  it("backup, allow-functions, fleet/verify and restore-setting carry every member; restore gets each member's recorded value", async () => {
    mockStepResults.set("preflight", {
      trustFunctionCreatorsBefore: false,
      trustBeforeByMember: { "10.0.0.11:3306": false, "10.0.0.12:3307": true, "10.0.0.13:3306": false },
    });
    mockStepResults.set("db/allow-functions", { previous: false, changed: true });
    const got = await requests(galeraConfig());
    const members = [
      { host: "10.0.0.11", port: 3306 },
      { host: "10.0.0.12", port: 3307 },
      { host: "10.0.0.13", port: 3306 },
    ];
    expect(got.get("db/backup")).toMatchObject({ kind: "backup-mysqldump", galeraMembers: members });
    expect(got.get("db/allow-functions")).toMatchObject({ kind: "allow-functions", galeraMembers: members });
    expect(got.get("fleet/verify")).toMatchObject({
      kind: "fleet-verify",
      trustRecheck: { adminUser: "admin", galeraMembers: members },
    });
    expect(got.get("db/restore-setting")).toMatchObject({
      kind: "restore-setting",
      galeraMembers: members,
      previousByMember: { "10.0.0.11:3306": false, "10.0.0.12:3307": true, "10.0.0.13:3306": false },
    });
  });

  it("without galeraMembers the requests are the ones earlier states recorded (no member key at all)", async () => {
    mockStepResults.set("preflight", { trustFunctionCreatorsBefore: false });
    mockStepResults.set("db/allow-functions", { previous: false, changed: true });
    const got = await requests(galeraConfig(null));
    expect(got.size).toBe(4);
    for (const [step, request] of got) {
      for (const key of ["galeraMembers", "trustRecheck", "previousByMember"])
        expect(Object.keys(request), `${step}: ${key}`).not.toContain(key);
    }
  });

  it("fleet/verify re-checks only with an admin user (nothing could set it again without one)", async () => {
    const config = galeraConfig();
    const { adminUser: _admin, ...database } = config.database as Record<string, unknown>;
    const got = await requests({ ...config, database }, { dbPassword: "secret" });
    expect(Object.keys(got.get("fleet/verify") ?? {})).not.toContain("trustRecheck");
  });
});

describe("a member that cannot be reached (nothing listens on port 1)", () => {
  const admin = { host: "127.0.0.1", port: 1, user: "admin", password: "x", database: "glance" };
  const down = [
    { host: "127.0.0.1", port: 1 },
    { host: "127.0.0.1", port: 2 },
  ];

  it("restore: the step fails naming every pending member and the value each must get", async () => {
    const error = await restoreOnMembers(
      { admin, members: down, previousOf: (key) => key.endsWith(":2") },
      silentContext,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const message = (error as Error).message;
    expect(message).toContain("restored on no member, but not on 2 unreachable member(s): 127.0.0.1:1 (");
    expect(message).toContain("rerun up: db/restore-setting runs again");
    expect(message).toContain(
      "127.0.0.1:1: SET GLOBAL log_bin_trust_function_creators=0; 127.0.0.1:2: SET GLOBAL log_bin_trust_function_creators=1",
    );
  });

  it("re-check: reported as unreachable, not a failure (it serves nobody)", async () => {
    const result = await recheckOnMembers({ glance: admin, admin, members: down }, silentContext);
    expect(result).toEqual({ setAgain: [], unreachable: ["127.0.0.1:1", "127.0.0.1:2"] });
  });
});

describe("the summary's Galera section", () => {
  const line = (n: number, trust: boolean) =>
    describeMember({
      address: `10.0.0.1${n}:3306`,
      nodeName: `db-${n}`,
      wsrepOn: true,
      ready: true,
      clusterStatus: "Primary",
      state: "Synced",
      clusterSize: 3,
      trust,
    });
  const record = (step: string, result: Record<string, unknown>): [string, StepRecord] => {
    const made = recordFromStored(step, {
      startedAt: "2026-01-01T10:00:00Z",
      endedAt: "2026-01-01T10:00:01Z",
      seconds: 1,
      result,
    });
    if (!made) throw new Error(`no record for ${step}`);
    return [step, made];
  };

  it("shows each member before and after, the setting included", () => {
    expect(line(1, false)).toBe(
      "10.0.0.11:3306 (db-1): Synced, Primary, size 3, ready, log_bin_trust_function_creators=0",
    );
    const records = new Map([
      record("preflight", { versionsBefore: {}, galeraMembersBefore: [line(1, false), line(2, true)] }),
      record("db/restore-setting", {
        restoredTo: false,
        changed: true,
        galeraMembersAfter: [line(1, false), line(2, true)],
      }),
    ]);
    expect(galeraLines(records)).toEqual([
      "",
      "Galera members before:",
      `  ${line(1, false)}`,
      `  ${line(2, true)}`,
      "Galera members after:",
      `  ${line(1, false)}`,
      `  ${line(2, true)}`,
    ]);
  });

  it("says when the after state is missing (restore not finished), and is absent without Galera", () => {
    const records = new Map([
      record("preflight", { versionsBefore: {}, galeraMembersBefore: [line(1, false)] }),
    ]);
    expect(galeraLines(records).at(-1)).toBe("  (not read: db/restore-setting has not finished)");
    expect(galeraLines(new Map([record("preflight", { versionsBefore: {} })]))).toEqual([]);
  });
});
