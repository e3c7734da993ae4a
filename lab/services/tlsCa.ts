/**
 * A certificate authority of the lab's own and a server certificate it signs, made with the openssl
 * CLI, so the lab's MariaDB can offer TLS that clients verify (`database.tls` with `database.caFile`).
 * The server certificate names 127.0.0.1 and localhost. Idempotent: existing files are kept.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface TlsFiles {
  /** The CA certificate clients verify the server against. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

const DAYS = "3650";

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(
      `openssl ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}; ` +
        `is openssl installed? run "bash scripts/setup-services.sh" (as root)`,
    );
  }
}

/** Makes (once) a CA named `name` and a server certificate for 127.0.0.1 in `dir`. */
export function ensureServerCertificate(dir: string, name = "glance-lab"): TlsFiles {
  const files = {
    caFile: path.join(dir, "ca.pem"),
    certFile: path.join(dir, "server-cert.pem"),
    keyFile: path.join(dir, "server-key.pem"),
  };
  if (Object.values(files).every((f) => fs.existsSync(f))) return files;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      DAYS,
      "-subj",
      `/CN=${name} CA`,
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem",
    ],
    dir,
  );
  issueServerCertificate(dir, dir, ["IP:127.0.0.1", "DNS:localhost"]);
  return files;
}

/**
 * Signs a server certificate for `altNames` (openssl subjectAltName entries, e.g. "DNS:db.example")
 * with the CA that ensureServerCertificate made in `caDir`; writes server-cert.pem and server-key.pem
 * to `outDir`. The tests use it for a certificate from the right CA that names another host.
 */
export function issueServerCertificate(
  caDir: string,
  outDir: string,
  altNames: string[],
): { certFile: string; keyFile: string } {
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const firstName = altNames[0]?.replace(/^[A-Z]+:/, "") ?? "server";
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${firstName}`,
      "-keyout",
      "server-key.pem",
      "-out",
      "server.csr",
    ],
    outDir,
  );
  fs.writeFileSync(path.join(outDir, "server.ext"), `subjectAltName=${altNames.join(",")}\n`);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      path.join(caDir, "ca.pem"),
      "-CAkey",
      path.join(caDir, "ca-key.pem"),
      "-CAcreateserial",
      "-days",
      DAYS,
      "-extfile",
      "server.ext",
      "-out",
      "server-cert.pem",
    ],
    outDir,
  );
  return { certFile: path.join(outDir, "server-cert.pem"), keyFile: path.join(outDir, "server-key.pem") };
}
