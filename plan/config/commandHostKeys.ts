import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { hostKeyFor } from "./knownHosts";
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { ResolvedNode } from "./upgradeConfig";

/** Reads a known_hosts file; undefined when it cannot be read. */
export type KnownHostsReader = (file: string) => string | undefined;

export const readKnownHostsFile: KnownHostsReader = (file) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

/** The known_hosts file OpenSSH uses: the configured one, else the operator's own. */
function knownHostsFileOf(stack: ParsedStack): string {
  return stack.ssh?.knownHostsFile ?? path.join(homedir(), ".ssh", "known_hosts");
}

/**
 * What the `command` executor needs to honour the ssh settings: every SSH node's host key, known
 * before the run (remote.Command checks one fixed key and cannot trust on first use). Returns the
 * keys by node name and the problems.
 */
export function commandHostKeys(
  stack: ParsedStack,
  nodes: ResolvedNode[],
  readKnownHosts: KnownHostsReader,
): { keys: Record<string, string>; problems: string[] } {
  const keys: Record<string, string> = {};
  const problems: string[] = [];
  const policy = stack.ssh?.hostKeyPolicy ?? "strict";
  if (stack.exec !== "command" || !stack.ssh || policy === "insecure") return { keys, problems };
  if ("provision" in stack.newNode) {
    problems.push(
      `${key(["exec"])} = "command": remote.Command cannot check the host key of a NEW NODE the stack launches (its key is not known before it runs, and remote.Command cannot trust on first use): use exec: native, which learns that key alone on first connection`,
    );
  }
  const file = knownHostsFileOf(stack);
  const text = readKnownHosts(file);
  const sshNodes = nodes.filter((node) => node.transport === "ssh");
  if (text === undefined && sshNodes.length > 0) {
    problems.push(
      `${key(["ssh", "knownHostsFile"])} = ${show(file)}: cannot read it, and exec: command checks every node's host key from it: create it with each node's key (ssh-keyscan -t ed25519 <address> >> ${file}, after checking the fingerprints) or fix the path`,
    );
    return { keys, problems };
  }
  nodes.forEach((node, index) => {
    if (node.transport !== "ssh") return;
    const found = hostKeyFor(text ?? "", node.address, node.sshPort);
    if (found) {
      keys[node.name] = found;
      return;
    }
    const fetch = `ssh-keyscan${node.sshPort === 22 ? "" : ` -p ${node.sshPort}`} -t ed25519 ${node.address} >> ${file}`;
    const why =
      policy === "strict"
        ? "and ssh.hostKeyPolicy is strict"
        : "and exec: command cannot trust on first use (remote.Command checks a fixed key; exec: native can)";
    problems.push(
      `${key(["nodes", index])} (${node.name}, ${node.address}:${node.sshPort}): no host key in ${file}, ${why}: add it with \`${fetch}\` after checking its fingerprint against the node's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)`,
    );
  });
  return { keys, problems };
}
