/**
 * Database TLS as the program configures it for each client: the stack keys, mysql2's options, the
 * dump tools' arguments and the URL glance-manage gets. Each one verifies the server (its CA, and its
 * name where the client can); the integration suite runs them against a real MariaDB with TLS.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { glanceManageConnection } from "../../components/dbMigration";
import { tlsArguments } from "../../steps/backup/mysqldump";
import { tlsOptions } from "../../steps/db/connection";
import { haproxyStack, configErrorOf, parsed } from "./fixtures";

const db = { user: "glance", host: "db.internal", port: 3306, name: "glance" };

describe("database TLS", () => {
  it("glance-manage's URL carries the CA and the name check with a caFile, system-CA verification without", () => {
    expect(glanceManageConnection({ ...db, tls: false }, "p w")).toBe(
      "mysql+pymysql://glance:p%20w@db.internal:3306/glance",
    );
    expect(glanceManageConnection({ ...db, tls: true, caFile: "/etc/ssl/rds.pem" }, "pw")).toBe(
      "mysql+pymysql://glance:pw@db.internal:3306/glance?ssl_ca=%2Fetc%2Fssl%2Frds.pem&ssl_check_hostname=true",
    );
    expect(glanceManageConnection({ ...db, tls: true }, "pw")).toBe(
      "mysql+pymysql://glance:pw@db.internal:3306/glance?ssl_verify_cert=true&ssl_verify_identity=true",
    );
  });

  it("the dump tools verify the server: MariaDB's and MySQL's own flags", () => {
    expect(tlsArguments("mariadb", "/ca.pem")).toEqual([
      "--ssl",
      "--ssl-ca=/ca.pem",
      "--ssl-verify-server-cert",
    ]);
    expect(tlsArguments("mariadb")).toEqual(["--ssl", "--ssl-verify-server-cert"]);
    expect(tlsArguments("mysql", "/ca.pem")).toEqual(["--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/ca.pem"]);
  });

  it("mysql2 rejects an unverified server and checks its name (verifyIdentity), and gets no TLS options without tls", () => {
    expect(tlsOptions({ ...db, database: "glance", password: "x" })).toBeUndefined();
    expect(tlsOptions({ ...db, database: "glance", password: "x", ssl: true })).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: true,
    });
  });

  it("the program opens MySQL connections in one place only (steps/db/connection.ts), so all of them verify alike", () => {
    const root = path.resolve(__dirname, "../..");
    const sources = [
      "index.ts",
      ...["components", "driver", "plan", "policy", "resources", "steps"].flatMap((dir) =>
        fs
          .readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
          .filter((f) => f.endsWith(".ts"))
          .map((f) => path.join(dir, f)),
      ),
    ];
    expect(sources.length).toBeGreaterThan(50);
    const importsMysql2 = /from "mysql2(\/promise)?"|require\("mysql2/;
    const opening = /\b(createConnection|createPool|createPoolCluster)\s*\(/;
    const openers = sources.filter((f) => {
      const text = fs.readFileSync(path.join(root, f), "utf8");
      return importsMysql2.test(text) && opening.test(text);
    });
    // The scan does see mysql2 where it is imported (the other files only use its types).
    expect(
      sources.filter((f) => importsMysql2.test(fs.readFileSync(path.join(root, f), "utf8"))).length,
    ).toBeGreaterThan(2);
    expect(openers).toEqual([path.join("steps", "db", "connection.ts")]);
  });

  it("caFile is an absolute path used only with tls: true", () => {
    const config = parsed(
      haproxyStack(2, { database: { tls: true, caFile: "/etc/glance-rolling-upgrade/ca.pem" } }),
    );
    expect(config.database).toMatchObject({ tls: true, caFile: "/etc/glance-rolling-upgrade/ca.pem" });
    expect(configErrorOf(haproxyStack(2, { database: { caFile: "/etc/ca.pem" } })).problems).toContainEqual(
      'glance-rolling-upgrade:database.caFile = "/etc/ca.pem": it is only used with TLS; set database.tls: true, or remove caFile',
    );
    expect(
      configErrorOf(haproxyStack(2, { database: { tls: true, caFile: "ca.pem" } })).problems[0],
    ).toContain('glance-rolling-upgrade:database.caFile = "ca.pem": use an absolute path');
  });
});
