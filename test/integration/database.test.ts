import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glanceManageConnection } from "../../components/dbMigration";
import { venvDir } from "../../lab/venvs";
import { RunningMariadb, startMariadb } from "../../lab/services/mariadb";
import { ensureServerCertificate, issueServerCertificate } from "../../lab/services/tlsCa";
import { findFreePort } from "../../lab/services/ports";
import { stepFailure } from "../support/stepHarness";
import { mysqldumpBackup } from "../../steps/backup/mysqldump";
import { StepContext, StepError } from "../../steps/context";
import { DbEndpoint, checkConnection, withConnection } from "../../steps/db/connection";
import { alembicHeads, describeDbCheck, interpretDbCheckExit } from "../../steps/db/migrationState";
import {
  privilegePreflight,
  readTrustFunctionCreators,
  restoreTrustFunctionCreators,
  setTrustFunctionCreators,
} from "../../steps/db/privileges";

/** Random, with the characters an option file or a shell would trip over. */
function nastyPassword(): string {
  return `${randomBytes(12).toString("base64url")}#"'\\ =;x`;
}

const passwords = {
  glance: nastyPassword(),
  admin: nastyPassword(),
  weak: nastyPassword(),
  binlogAdmin: nastyPassword(),
};
const logLines: string[] = [];
const ctx: StepContext = { log: (line) => logLines.push(line) };

let workDir: string;
let server: RunningMariadb;
let glance: DbEndpoint;
let admin: DbEndpoint;

function endpoint(user: string, password: string): DbEndpoint {
  return { host: "127.0.0.1", port: server.port, user, password, database: "glance" };
}

function expectNoSecret(text: string): void {
  for (const secret of Object.values(passwords)) expect(text).not.toContain(secret);
  expect(text).not.toContain(server.rootPassword);
}

async function globalTrust(): Promise<number> {
  const conn = await mysql.createConnection({
    socketPath: server.socket,
    user: "root",
    password: server.rootPassword,
  });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT @@GLOBAL.log_bin_trust_function_creators AS v",
    );
    return Number(rows[0]?.v);
  } finally {
    await conn.end();
  }
}

async function asGlance<T>(use: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const { host, port, user, password, database } = glance;
  const conn = await mysql.createConnection({ host, port, user, password, database });
  try {
    return await use(conn);
  } finally {
    await conn.end();
  }
}

/**
 * Makes the running server present, until `use` returns, a certificate from its own CA (the one
 * database.caFile names) issued for another host; FLUSH SSL reloads it without a restart.
 */
async function withCertificateFor<T>(altNames: string[], use: () => Promise<T>): Promise<T> {
  const tlsDir = path.dirname(server.caFile);
  const issued = issueServerCertificate(tlsDir, path.join(workDir, `cert-${altNames.join("_")}`), altNames);
  const saved = path.join(workDir, "lab-cert-saved");
  fs.mkdirSync(saved, { recursive: true });
  const labFiles = ["server-cert.pem", "server-key.pem"] as const;
  const flushSsl = async () => {
    const conn = await mysql.createConnection({
      socketPath: server.socket,
      user: "root",
      password: server.rootPassword,
    });
    try {
      await conn.query("FLUSH SSL");
    } finally {
      await conn.end();
    }
  };
  for (const f of labFiles) fs.copyFileSync(path.join(tlsDir, f), path.join(saved, f));
  fs.copyFileSync(issued.certFile, path.join(tlsDir, "server-cert.pem"));
  fs.copyFileSync(issued.keyFile, path.join(tlsDir, "server-key.pem"));
  await flushSsl();
  try {
    return await use();
  } finally {
    for (const f of labFiles) fs.copyFileSync(path.join(saved, f), path.join(tlsDir, f));
    await flushSsl();
  }
}

/** The subject of the certificate the server presents now, as `openssl s_client` prints it. */
function presentedSubject(): string {
  const run = spawnSync(
    "openssl",
    ["s_client", "-starttls", "mysql", "-connect", `127.0.0.1:${server.port}`],
    {
      input: "",
      encoding: "utf8",
      timeout: 10_000,
    },
  );
  return /^subject=(.*)$/m.exec(run.stdout)?.[1]?.trim() ?? `(none: ${run.stderr})`;
}

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "glance-db-test-"));
  server = await startMariadb({ dir: path.join(workDir, "mariadb") });
  await server.createDatabase("glance");
  await server.createUser("glance", passwords.glance, "ALL ON glance.*");
  await server.createUser("admin", passwords.admin, "ALL PRIVILEGES ON *.*");
  await server.createUser("weakadmin", passwords.weak, "ALL ON glance.*");
  await server.createUser("binlogadmin", passwords.binlogAdmin, "BINLOG ADMIN ON *.*");
  await server.createUser("binlogadmin", passwords.binlogAdmin, "SELECT ON glance.*");
  glance = endpoint("glance", passwords.glance);
  admin = endpoint("admin", passwords.admin);
});

afterAll(async () => {
  await server?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("connection", () => {
  it("checks a reachable database and reports the server version", async () => {
    const { serverVersion } = await checkConnection(glance, ctx);
    expect(serverVersion).toMatch(/MariaDB/);
    expect(logLines.at(-1)).toContain(`glance@127.0.0.1:${server.port}/glance reachable`);
  });

  it("names host:port and user, and what to check, when nothing listens (never the password)", async () => {
    const closedPort = await findFreePort();
    const err = await stepFailure(checkConnection({ ...glance, port: closedPort }, ctx));
    expect(err.message).toContain(`127.0.0.1:${closedPort}`);
    expect(err.message).toContain("user 'glance'");
    expect(err.message).toContain("check that the server is running and reachable");
    expectNoSecret(err.message);
  });

  it("says a server that never greets a MySQL client (as PostgreSQL does not) may not be MySQL", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const err = await stepFailure(checkConnection({ ...glance, port }, ctx));
      expect(err.message).toContain(`127.0.0.1:${port}`);
      expect(err.message).toContain("and that it is MySQL or MariaDB");
      expect(err.message).toContain("PostgreSQL does not");
    } finally {
      silent.close();
    }
  });

  it("says to check the credentials on a wrong password, without quoting either password", async () => {
    const wrong = nastyPassword();
    const err = await stepFailure(checkConnection({ ...glance, password: wrong }, ctx));
    expect(err.message).toContain("Access denied");
    expect(err.message).toContain("check the user name and password");
    expect(err.message).not.toContain(wrong);
    expectNoSecret(err.message);
  });
});

describe("TLS to the database, verified (the lab's MariaDB offers it with a CA of its own)", () => {
  it("connects over TLS when the server verifies against database.caFile, and the session is encrypted", async () => {
    const tls = { ...glance, ssl: true, caFile: server.caFile };
    const cipher = await withConnection(tls, "read the TLS cipher", async (conn) => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW STATUS LIKE 'Ssl_cipher'");
      return String(rows[0]?.Value ?? "");
    });
    expect(cipher).not.toBe("");
  });

  it("refuses a server whose certificate another CA signed, saying what to check (nothing else happens)", async () => {
    const otherCa = ensureServerCertificate(path.join(workDir, "other-ca"), "not-the-lab").caFile;
    const err = await stepFailure(checkConnection({ ...glance, ssl: true, caFile: otherCa }, ctx));
    expect(err.message).toContain(
      `the server's TLS certificate did not verify against database.caFile (${otherCa})`,
    );
    expect(err.message).toContain("names 127.0.0.1");
    expectNoSecret(err.message);
  });

  it("refuses a certificate from the right CA that names another host, in every client the program runs; the right name connects", async () => {
    const right = { ...glance, ssl: true, caFile: server.caFile };
    const wrongDump = path.join(workDir, "backups", "wrong-name.sql");
    await withCertificateFor(["DNS:db.elsewhere.example"], async () => {
      expect(presentedSubject()).toContain("db.elsewhere.example");
      const dump = await stepFailure(mysqldumpBackup({ db: right, path: wrongDump }, ctx));
      expect(dump.message).toMatch(/certificate|SSL|TLS/i);
      expect(fs.existsSync(wrongDump)).toBe(false);
      // One opener serves preflight, the MySQL setting, the import waits and the driver's restore.
      const err = await stepFailure(checkConnection(right, ctx));
      expect(err.message).toContain("the server's TLS certificate does not name 127.0.0.1 (database.host)");
      expectNoSecret(err.message);
      await expect(readTrustFunctionCreators(right)).rejects.toThrow(/does not name 127\.0\.0\.1/);
    });
    // The control: the lab's own certificate names 127.0.0.1, and the same clients connect.
    expect(presentedSubject()).toContain("127.0.0.1");
    await checkConnection(right, ctx);
    expect(await readTrustFunctionCreators(right)).toBe(false);
    const dumped = await mysqldumpBackup(
      { db: right, path: path.join(workDir, "backups", "right-name.sql") },
      ctx,
    );
    expect(dumped.bytes).toBeGreaterThan(0);
  });

  it("an IP address as database.host is checked against the certificate's IP names, not against localhost", async () => {
    const right = { ...glance, ssl: true, caFile: server.caFile };
    const dumpTo = (name: string) => ({ db: right, path: path.join(workDir, "backups", name) });
    await withCertificateFor(["DNS:localhost"], async () => {
      const err = await stepFailure(checkConnection(right, ctx));
      expect(err.message).toContain("the server's TLS certificate does not name 127.0.0.1 (database.host)");
      await stepFailure(mysqldumpBackup(dumpTo("localhost-cert.sql"), ctx));
    });
    const reused = await withCertificateFor(["IP:127.0.0.1"], async () => {
      await mysqldumpBackup(dumpTo("ip-cert.sql"), ctx);
      return withConnection(right, "read the TLS session", async (conn) => {
        const [rows] = await conn.query<mysql.RowDataPacket[]>(
          "SHOW SESSION STATUS LIKE 'Ssl_sessions_reused'",
        );
        return String(rows[0]?.Value);
      });
    });
    // A full handshake, so the certificate (naming only the IP) was checked, and passed.
    expect(reused).toBe("0");
  });

  it("names an unreadable caFile", async () => {
    const err = await stepFailure(
      checkConnection({ ...glance, ssl: true, caFile: "/nonexistent/ca.pem" }, ctx),
    );
    expect(err.message).toContain("cannot read database.caFile /nonexistent/ca.pem");
  });

  it("mariadb-dump verifies the server too: the dump works with the right CA and fails with another", async () => {
    const target = path.join(workDir, "backups", "tls.sql");
    const result = await mysqldumpBackup(
      { db: { ...glance, ssl: true, caFile: server.caFile }, path: target },
      ctx,
    );
    expect(result.bytes).toBeGreaterThan(0);
    const otherCa = ensureServerCertificate(path.join(workDir, "other-ca"), "not-the-lab").caFile;
    const err = await stepFailure(
      mysqldumpBackup(
        { db: { ...glance, ssl: true, caFile: otherCa }, path: path.join(workDir, "backups", "x.sql") },
        ctx,
      ),
    );
    expect(err.message).toMatch(/certificate|SSL|TLS/i);
  });

  it("glance-manage's PyMySQL connection (the URL the program builds) verifies the server against the CA, and its name", async () => {
    const python = path.join(venvDir("2024.1"), "bin", "python");
    const probe = (caFile: string) =>
      spawnSync(
        python,
        [
          "-c",
          "import os, sqlalchemy as sa; e = sa.create_engine(os.environ['URL']); " +
            "print(e.connect().exec_driver_sql(\"SHOW STATUS LIKE 'Ssl_cipher'\").fetchone()[1])",
        ],
        {
          encoding: "utf8",
          env: {
            ...process.env,
            URL: glanceManageConnection(
              { user: "glance", host: "127.0.0.1", port: server.port, name: "glance", tls: true, caFile },
              passwords.glance,
            ),
          },
        },
      );
    const good = probe(server.caFile);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout.trim()).not.toBe("");
    const otherCa = ensureServerCertificate(path.join(workDir, "other-ca"), "not-the-lab").caFile;
    const bad = probe(otherCa);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/CERTIFICATE_VERIFY_FAILED/);
    // The right CA, a certificate for another name: ssl_check_hostname refuses it.
    const elsewhere = await withCertificateFor(["DNS:db.elsewhere.example"], async () =>
      probe(server.caFile),
    );
    expect(elsewhere.status).not.toBe(0);
    expect(elsewhere.stderr).toMatch(/IP address mismatch, certificate is not valid for '127\.0\.0\.1'/);
  });
});

describe("privilege preflight", () => {
  it("without an admin: refuses with the exact fix", async () => {
    const err = await stepFailure(privilegePreflight({ glance }, ctx));
    expect(err.message).toContain("binary logging is on, log_bin_trust_function_creators is 0");
    expect(err.message).toContain('"SET GLOBAL log_bin_trust_function_creators = 1;" as an administrator');
    expect(err.message).toContain("database.adminUser and database.adminPassword");
    expect(err.message).toContain(`"GRANT SUPER ON *.* TO 'glance'@'%';"`);
    expect(err.message).not.toContain("RDS");
    expectNoSecret(err.message);
    expect(await globalTrust()).toBe(0);
  });

  it("on RDS: names the parameter group to change", async () => {
    const err = await stepFailure(
      privilegePreflight({ glance, rds: { parameterGroup: "glance-prod-params" } }, ctx),
    );
    expect(err.message).toContain(
      "set log_bin_trust_function_creators = 1 in DB parameter group 'glance-prod-params'",
    );
  });

  it("with an admin: detects binlog on, trust off, no SUPER, and needsSetting", async () => {
    const found = await privilegePreflight({ glance, admin }, ctx);
    expect(found).toEqual({
      binlogEnabled: true,
      trustFunctionCreators: false,
      glanceHasSuper: false,
      needsSetting: true,
    });
    expect(await globalTrust()).toBe(0);
  });

  it("with an admin that holds neither SUPER nor BINLOG ADMIN: refuses, naming it", async () => {
    const weak = endpoint("weakadmin", passwords.weak);
    const err = await stepFailure(privilegePreflight({ glance, admin: weak }, ctx));
    expect(err.message).toContain("admin user 'weakadmin' cannot set it either");
    expect(err.message).toContain("USAGE");
    expectNoSecret(err.message);
  });

  it("accepts an admin with only BINLOG ADMIN (enough to SET it on MariaDB)", async () => {
    const binlogAdmin = endpoint("binlogadmin", passwords.binlogAdmin);
    expect((await privilegePreflight({ glance, admin: binlogAdmin }, ctx)).needsSetting).toBe(true);
    expect(await setTrustFunctionCreators({ admin: binlogAdmin }, ctx)).toEqual({
      previous: false,
      changed: true,
    });
    expect(await globalTrust()).toBe(1);
    expect(await restoreTrustFunctionCreators({ admin: binlogAdmin, previous: false }, ctx)).toEqual({
      restoredTo: false,
      changed: true,
    });
    expect(await globalTrust()).toBe(0);
  });

  it("a glance user with SUPER needs nothing set", async () => {
    const superPassword = nastyPassword();
    await server.createUser("superglance", superPassword, "ALL ON glance.*");
    await server.createUser("superglance", superPassword, "SUPER ON *.*");
    const found = await privilegePreflight({ glance: endpoint("superglance", superPassword) }, ctx);
    expect(found).toEqual({
      binlogEnabled: true,
      trustFunctionCreators: false,
      glanceHasSuper: true,
      needsSetting: false,
    });
  });
});

describe("log_bin_trust_function_creators set and restore", () => {
  const trigger = "CREATE TRIGGER items_bi BEFORE INSERT ON trigger_probe FOR EACH ROW SET NEW.n = NEW.n + 1";

  it("round trip: the global value really changes, the previous value is remembered, restoring twice is harmless", async () => {
    await asGlance((conn) => conn.query("CREATE TABLE trigger_probe (n INT)"));
    await expect(asGlance((conn) => conn.query(trigger))).rejects.toThrow(
      /SUPER privilege and binary logging/,
    );

    const set = await setTrustFunctionCreators({ admin }, ctx);
    expect(set).toEqual({ previous: false, changed: true });
    expect(await globalTrust()).toBe(1);
    expect(await readTrustFunctionCreators(glance)).toBe(true);
    // What the setting is for: the non-SUPER user may now create a trigger.
    await asGlance((conn) => conn.query(trigger));
    expect((await privilegePreflight({ glance }, ctx)).needsSetting).toBe(false);

    expect(await setTrustFunctionCreators({ admin }, ctx)).toEqual({ previous: true, changed: false });
    expect(await globalTrust()).toBe(1);

    expect(await restoreTrustFunctionCreators({ admin, previous: set.previous }, ctx)).toEqual({
      restoredTo: false,
      changed: true,
    });
    expect(await globalTrust()).toBe(0);
    expect(await restoreTrustFunctionCreators({ admin, previous: set.previous }, ctx)).toEqual({
      restoredTo: false,
      changed: false,
    });
    expect(await globalTrust()).toBe(0);
    expect(await readTrustFunctionCreators(glance)).toBe(false);
  });
});

describe("migration state", () => {
  it("alembic heads: empty without the table, then the recorded revisions", async () => {
    expect(await alembicHeads(glance, ctx)).toEqual([]);
    await asGlance(async (conn) => {
      await conn.query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)");
      await conn.query("INSERT INTO alembic_version VALUES ('2024_1_expand01'), ('2023_1_contract01')");
    });
    expect(await alembicHeads(glance, ctx)).toEqual(["2023_1_contract01", "2024_1_expand01"]);
  });

  it("interprets every documented db check exit code and refuses the rest", () => {
    expect([0, 3, 4, 5].map(interpretDbCheckExit)).toEqual([
      "up-to-date",
      "expand-needed",
      "migrate-needed",
      "contract-needed",
    ]);
    for (const code of [1, 2, 6, 127, -1]) {
      expect(() => interpretDbCheckExit(code)).toThrow(StepError);
      expect(() => interpretDbCheckExit(code)).toThrow(`exited with code ${code},`);
    }
    expect(describeDbCheck("expand-needed")).toContain("db expand");
    expect(describeDbCheck("migrate-needed")).toContain("db migrate");
    expect(describeDbCheck("contract-needed")).toContain("db contract");
    expect(describeDbCheck("up-to-date")).toContain("up to date");
  });
});

/** Every command line on the machine that runs a dump client, sampled until stopped. */
function sampleDumpCommandLines(): { stop(): string[] } {
  const seen = new Set<string>();
  const sample = () => {
    for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
        if (/mysqldump|mariadb-dump/.test(cmdline)) seen.add(cmdline);
      } catch {
        // the process ended meanwhile
      }
    }
  };
  const timer = setInterval(sample, 2);
  return {
    stop: () => {
      clearInterval(timer);
      return [...seen];
    },
  };
}

describe("mysqldump backup", () => {
  it("writes a complete dump with the right size and sha256; the password is never in argv", async () => {
    await asGlance(async (conn) => {
      await conn.query("CREATE TABLE images (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100))");
      await conn.query("INSERT INTO images (name) VALUES (REPEAT('x', 90))");
      // Doubling to 2^16 rows makes the dump last long enough to be seen in /proc.
      for (let i = 0; i < 16; i++) await conn.query("INSERT INTO images (name) SELECT name FROM images");
    });
    const target = path.join(workDir, "backups", "nested", "glance.sql");
    const sampler = sampleDumpCommandLines();
    const result = await mysqldumpBackup({ db: glance, path: target }, ctx);
    const commandLines = sampler.stop();

    const content = fs.readFileSync(target);
    expect(result.path).toBe(target);
    expect(result.bytes).toBe(content.length);
    expect(result.bytes).toBeGreaterThan(65_536 * 90);
    expect(result.sha256).toBe(createHash("sha256").update(content).digest("hex"));
    expect(result.seconds).toBeGreaterThan(0);
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${target}.partial`)).toBe(false);
    const text = content.toString("utf8");
    expect(text).toContain("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `glance`");
    expect(text).toContain("CREATE TABLE `images`");
    expect(text).toContain("items_bi");
    expect(text).toContain("-- Dump completed");

    expect(commandLines.length).toBeGreaterThan(0);
    for (const line of commandLines) {
      expect(line).toContain("--defaults-file=");
      expectNoSecret(line);
    }
    // The only option file it reads (user and password) is a nameless file on mysqldump's stdin.
    expect(/--defaults-file=(\S+)/.exec(commandLines[0] ?? "")?.[1]).toBe("/dev/stdin");
  });

  it("a ~/.my.cnf [client] or [mysqldump] section naming another server, port or user does not move the backup", async () => {
    // A listener that only counts: any client that reaches it was sent somewhere it should not go.
    let strayConnections = 0;
    const elsewhere = net.createServer((socket) => {
      strayConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    const strayPort = (elsewhere.address() as net.AddressInfo).port;
    const home = fs.mkdtempSync(path.join(workDir, "home-"));
    const myCnf = (section: string) =>
      `[${section}]\nhost=127.0.0.1\nport=${strayPort}\nuser=someone-else\npassword=not-ours\n`;
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      // The instrument can see a stray client: the mariadb client, told nothing, goes where .my.cnf says.
      fs.writeFileSync(path.join(home, ".my.cnf"), myCnf("client"), { mode: 0o600 });
      await new Promise((resolve) => {
        execFile("mariadb", ["--protocol=TCP", "-e", "SELECT 1"], { timeout: 10_000 }, resolve);
      });
      expect(strayConnections).toBe(1);
      for (const section of ["client", "mysqldump"]) {
        fs.writeFileSync(path.join(home, ".my.cnf"), myCnf(section), { mode: 0o600 });
        const target = path.join(workDir, "backups", `my-cnf-${section}.sql`);
        const result = await mysqldumpBackup({ db: glance, path: target }, ctx);
        expect(fs.readFileSync(target, "utf8")).toContain("CREATE TABLE `images`");
        expect(result.bytes).toBeGreaterThan(65_536 * 90);
      }
      expect(strayConnections).toBe(1);
    } finally {
      process.env.HOME = savedHome;
      elsewhere.close();
    }
  });

  it("an unreachable database fails clearly and leaves no file behind", async () => {
    const closedPort = await findFreePort();
    const dir = path.join(workDir, "backups-unreachable");
    const target = path.join(dir, "glance.sql");
    const err = await stepFailure(
      mysqldumpBackup({ db: { ...glance, port: closedPort }, path: target }, ctx),
    );
    expect(err.message).toContain(`127.0.0.1:${closedPort}`);
    expect(err.message).toContain("user 'glance'");
    expect(err.message).toMatch(/Can't connect/);
    expectNoSecret(err.message);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("a refused login quotes mysqldump's error, without the password", async () => {
    const wrong = nastyPassword();
    const target = path.join(workDir, "backups-denied", "glance.sql");
    const err = await stepFailure(mysqldumpBackup({ db: { ...glance, password: wrong }, path: target }, ctx));
    expect(err.message).toContain("Access denied for user 'glance'");
    expect(err.message).not.toContain(wrong);
    expectNoSecret(err.message);
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
  });
});

describe("bounded waits (issue 30, finding 8)", () => {
  /** A root session holding a write lock on glance.locked until released: what blocks a reader. */
  async function holdWriteLock(): Promise<{ release(): Promise<void> }> {
    await asGlance((conn) => conn.query("CREATE TABLE IF NOT EXISTS locked (id INT)"));
    const conn = await mysql.createConnection({
      socketPath: server.socket,
      user: "root",
      password: server.rootPassword,
    });
    await conn.query("LOCK TABLES glance.locked WRITE");
    return { release: () => conn.end() };
  }

  /** Files in the dump's private directories (under this TMPDIR) that hold a password line. */
  function passwordFiles(): string[] {
    return fs
      .readdirSync(os.tmpdir())
      .filter((name) => name.startsWith("glance-mysqldump-"))
      .flatMap((dir) =>
        fs.readdirSync(path.join(os.tmpdir(), dir)).map((f) => path.join(os.tmpdir(), dir, f)),
      )
      .filter((file) => /^password=/m.test(fs.readFileSync(file, "utf8")));
  }

  it("a query with no answer in time fails, naming the wait, and closes the connection", async () => {
    const started = Date.now();
    const err = await stepFailure(
      withConnection(glance, "read the sleeping value", (conn) => conn.query("SELECT SLEEP(3)"), 500),
    );
    expect((Date.now() - started) / 1000).toBeLessThan(2);
    expect(err.message).toContain("could not read the sleeping value");
    expect(err.message).toContain("no answer within 0.5 s");
    expectNoSecret(err.message);
  });

  // The negative control: a query inside the bound answers.
  it("a query that answers within the bound passes", async () => {
    const [rows] = await withConnection(
      glance,
      "sleep briefly",
      (conn) => conn.query("SELECT SLEEP(0.1) AS s"),
      2_000,
    );
    expect(rows).toEqual([{ s: 0 }]);
  });

  it("a dump held by a lock stops at its timeout, with no dump and no password file left", async () => {
    const lock = await holdWriteLock();
    const target = path.join(workDir, "backups-locked", "glance.sql");
    try {
      const started = Date.now();
      const failure = stepFailure(mysqldumpBackup({ db: glance, path: target, timeoutSeconds: 2 }, ctx));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // While mysqldump waits on the lock: no file on disk holds the password.
      expect(passwordFiles()).toEqual([]);
      const err = await failure;
      const seconds = (Date.now() - started) / 1000;
      console.log(`dump held by a lock: failed after ${seconds.toFixed(2)} s (timeoutSeconds 2)`);
      expect(seconds).toBeLessThan(5);
      expect(err.message).toContain("mysqldump did not finish within 2 s and was stopped");
      expect(err.message).toContain("backup.timeoutSeconds");
      expect(fs.readdirSync(path.dirname(target))).toEqual([]);
    } finally {
      await lock.release();
    }
    // The negative control: with the lock gone the same dump completes.
    const result = await mysqldumpBackup({ db: glance, path: target, timeoutSeconds: 30 }, ctx);
    expect(result.bytes).toBeGreaterThan(0);
  });
});

describe("the MariaDB harness", () => {
  it("restarts on its existing data dir, keeping data and users", async () => {
    const dir = path.join(workDir, "mariadb");
    await server.stop();
    await expect(checkConnection(glance, ctx)).rejects.toThrow(StepError);
    server = await startMariadb({ dir });
    glance = endpoint("glance", passwords.glance);
    expect(await alembicHeads(glance, ctx)).toEqual(["2023_1_contract01", "2024_1_expand01"]);
    const binlog = await asGlance((conn) => conn.query<mysql.RowDataPacket[]>("SELECT @@log_bin AS on_"));
    expect(Number(binlog[0][0]?.on_)).toBe(1);
  });
});

describe("secrets", () => {
  it("no progress line ever contained a password", () => {
    expect(logLines.length).toBeGreaterThan(10);
    for (const line of logLines) expectNoSecret(line);
  });
});
