/**
 * backup.timeoutSeconds for a mysqldump backup (issue 30, finding 8): the dump is bounded, the
 * stack may set the bound, and a stack that does not keeps its backup step's inputs unchanged.
 */
import { describe, expect, it } from "vitest";
import { configErrorOf, haproxyStack, parsed } from "./fixtures";
import { runMockProgram, stackConfig } from "./support/mockProgram";

const backupRequest = async (backup: Record<string, unknown>) => {
  const { registrations } = await runMockProgram(stackConfig(2, { backup }), {
    dbPassword: "secret",
    dbAdminPassword: "secret",
  });
  const step = registrations.find((r) => r.name.endsWith("db/backup") || r.name.endsWith("/backup"));
  return step?.inputs?.request as Record<string, unknown>;
};

describe("backup.timeoutSeconds (mysqldump)", () => {
  it("is carried to the backup step when set", async () => {
    const request = await backupRequest({
      type: "mysqldump",
      path: "/var/backups/g-{release}.sql",
      timeoutSeconds: 7200,
    });
    expect(request).toMatchObject({ kind: "backup-mysqldump", timeoutSeconds: 7200 });
  });

  it("is left out when not set (the step's 30 min default), so existing stacks' backup inputs do not change", async () => {
    const request = await backupRequest({ type: "mysqldump", path: "/var/backups/g-{release}.sql" });
    expect(request.kind).toBe("backup-mysqldump");
    expect(Object.keys(request)).not.toContain("timeoutSeconds");
  });

  it("accepts a positive number and refuses 0, naming the key", () => {
    const ok = haproxyStack(2, {
      backup: { type: "mysqldump", path: "/b/{release}.sql", timeoutSeconds: 60 },
    });
    expect(parsed(ok).backup).toMatchObject({ timeoutSeconds: 60 });
    const bad = haproxyStack(2, {
      backup: { type: "mysqldump", path: "/b/{release}.sql", timeoutSeconds: 0 },
    });
    expect(configErrorOf(bad).problems.join("\n")).toContain("backup.timeoutSeconds");
  });
});
