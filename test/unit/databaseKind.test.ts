import { describe, expect, it } from "vitest";
import { notMysqlReason } from "../../steps/db/connection";

describe("notMysqlReason: the preflight refuses a database that is not MySQL or MariaDB, by name", () => {
  it.each([
    ["10.11.6-MariaDB-0+deb12u1", "Debian 12"],
    ["8.0.36", "MySQL Community Server - GPL"],
    ["8.0.36-0ubuntu0.22.04.1", "(Ubuntu)"],
    ["8.0.mysql_aurora.3.05.2", "Source distribution"],
    ["8.0.35-27", "Percona Server (GPL), Release 27, Revision 2f8eeab2"],
  ])("accepts %s (%s)", (version, comment) => {
    expect(notMysqlReason(version, comment)).toBeUndefined();
  });

  it.each([
    ["5.7.25-TiDB-v7.5.0", "", "TiDB"],
    ["8.0.31-Vitess", "Version: 18.0.0", "Vitess"],
    ["5.7.32", "SingleStore", "SingleStore"],
    ["24.3.1.2672", "ClickHouse server", "ClickHouse"],
  ])("refuses %s (%s), naming %s and what to do", (version, comment, name) => {
    const reason = notMysqlReason(version, comment);
    expect(reason).toContain(`it is ${name}, not MySQL or MariaDB`);
    expect(reason).toContain("on MySQL and MariaDB only");
    expect(reason).toContain("glance-manage db sync");
  });
});
