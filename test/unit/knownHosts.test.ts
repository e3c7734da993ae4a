/**
 * The known_hosts lookup the `command` executor takes each node's host key from: plain and hashed
 * host patterns, non-default ports, several keys per host, revoked keys and lines it must not use.
 * Hashed lines are made here the way `ssh-keygen -H` makes them (HMAC-SHA1 of the name, salted).
 */
import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hostKeyFor, knownHostsName } from "../../plan/config/knownHosts";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIed";
const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABrsa";
const ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYecdsa";

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

describe("hostKeyFor", () => {
  it("names a host as known_hosts does: plain on port 22, [host]:port otherwise", () => {
    expect(knownHostsName("10.0.0.1", 22)).toBe("10.0.0.1");
    expect(knownHostsName("10.0.0.1", 2222)).toBe("[10.0.0.1]:2222");
  });

  it("finds a plain entry, among comma-separated names, and ignores comments and other hosts", () => {
    const text = `# comment\n10.0.0.2 ${RSA}\nglance-1,10.0.0.1 ${ED} root@glance-1\n`;
    expect(hostKeyFor(text, "10.0.0.1", 22)).toBe(ED);
    expect(hostKeyFor(text, "glance-1", 22)).toBe(ED);
    expect(hostKeyFor(text, "10.0.0.3", 22)).toBeUndefined();
  });

  it("matches hashed entries, and a non-default port only by its [host]:port name", () => {
    const text = `${hashed("10.0.0.1")} ${RSA}\n${hashed("[10.0.0.1]:2222")} ${ED}\n`;
    expect(hostKeyFor(text, "10.0.0.1", 22)).toBe(RSA);
    expect(hostKeyFor(text, "10.0.0.1", 2222)).toBe(ED);
    expect(hostKeyFor(text, "10.0.0.1", 2200)).toBeUndefined();
  });

  it("prefers ed25519, then ECDSA, then RSA, as OpenSSH does", () => {
    expect(hostKeyFor(`h ${RSA}\nh ${ECDSA}\nh ${ED}\n`, "h", 22)).toBe(ED);
    expect(hostKeyFor(`h ${RSA}\nh ${ECDSA}\n`, "h", 22)).toBe(ECDSA);
  });

  it("never returns a revoked key, and skips @cert-authority lines and wildcard patterns", () => {
    expect(hostKeyFor(`h ${ED}\n@revoked * ${ED}\nh ${RSA}\n`, "h", 22)).toBe(RSA);
    expect(hostKeyFor(`@revoked h ${ED}\n`, "h", 22)).toBeUndefined();
    expect(hostKeyFor(`@cert-authority h ${ED}\n`, "h", 22)).toBeUndefined();
    expect(hostKeyFor(`10.0.0.* ${ED}\n`, "10.0.0.1", 22)).toBeUndefined();
  });
});
