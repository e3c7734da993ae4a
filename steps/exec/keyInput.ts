/**
 * A private key handed to the OpenSSH client without a key file that could outlive us: the key is
 * written to a file that has no name (Linux O_TMPFILE), given to ssh as its stdin, and read by
 * `ssh -i /dev/stdin` (which reopens /proc/self/fd/0 at offset 0 each time it loads the key). The
 * kernel frees the file with the last descriptor, so neither an exit hook nor a sweep is needed:
 * a SIGKILLed process leaves nothing. Where O_TMPFILE is refused, a named 0600 file in the caller's
 * 0700 directory is unlinked right after it is opened (it exists for microseconds).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Node does not export it. */
const O_TMPFILE = 0o20000000 | 0o200000;

/** The `-i` argument that makes ssh read the key from its stdin. */
export const KEY_FROM_STDIN = "/dev/stdin";

/**
 * A descriptor of a nameless file holding `secret` (a private key, a client option file); close it
 * when no child will need it again.
 */
export function unnamedSecretFile(secret: string, dir: string): number {
  let fd: number;
  try {
    fd = fs.openSync(dir, O_TMPFILE | fs.constants.O_RDWR, 0o600);
  } catch {
    const file = path.join(dir, `key-${randomBytes(8).toString("hex")}`);
    fd = fs.openSync(file, "wx+", 0o600);
    fs.unlinkSync(file);
  }
  // Positional: the descriptor's own offset stays 0 for a reader that shares it.
  fs.writeSync(fd, secret.endsWith("\n") ? secret : `${secret}\n`, 0);
  return fd;
}
