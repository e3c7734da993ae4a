/**
 * Host keys from an OpenSSH known_hosts file, for the `command` executor: remote.Command checks one
 * fixed key (`connection.hostKey`, "type base64") and ignores the host key when none is given, so
 * the key each node must present is looked up here, at plan time. Plain and hashed (`|1|salt|hash`)
 * host patterns are matched, `[host]:port` for ports other than 22; `@revoked` keys are never used;
 * `@cert-authority` lines and wildcard patterns are not used (remote.Command cannot check them).
 */
import { createHmac } from "node:crypto";

/** Key types in the order OpenSSH prefers them; remote.Command checks exactly one. */
const PREFERRED_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp521",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp256",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [salt, hash] = pattern.slice(3).split("|");
    if (!salt || !hash) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  return pattern === name;
}

interface KnownLine {
  marker?: string;
  patterns: string;
  key: string;
}

function linesOf(text: string): KnownLine[] {
  return text.split("\n").flatMap((raw) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return [];
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith("@") ? fields.shift() : undefined;
    const [patterns, type, key] = fields;
    return patterns && type && key ? [{ marker, patterns, key: `${type} ${key}` }] : [];
  });
}

/**
 * The key `host:port` must present ("type base64"), or undefined when the file has none for it. A key
 * listed as `@revoked` anywhere in the file is never returned, whatever host pattern revoked it.
 */
export function hostKeyFor(knownHosts: string, host: string, port: number): string | undefined {
  const name = knownHostsName(host, port);
  const lines = linesOf(knownHosts);
  const revoked = new Set(lines.filter((l) => l.marker === "@revoked").map((l) => l.key));
  const usable = lines.filter(
    (l) =>
      l.marker === undefined &&
      !revoked.has(l.key) &&
      l.patterns.split(",").some((pattern) => patternMatches(pattern, name)),
  );
  const rank = (key: string) => {
    const index = PREFERRED_TYPES.indexOf(key.split(" ")[0]);
    return index === -1 ? PREFERRED_TYPES.length : index;
  };
  return usable.sort((a, b) => rank(a.key) - rank(b.key))[0]?.key;
}
