/** What a config value's host says about the network between it and this program. */
import { ackFix, key, show } from "./problemText";

/** A host that is this machine: nothing between it and the program can read or change the traffic. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function urlHost(url: string): string {
  return /^https?:\/\/(\[[^\]]*\]|[^/:?#]*)/.exec(url)?.[1] ?? "";
}

/**
 * An AWS endpoint override over plain http to another host (the `awsEndpointOverHttp` risk): what
 * travels through it (`what`) could be read and changed on the way.
 */
export function httpEndpointRisk(path: PropertyKey[], url: string | undefined, what: string): string[] {
  return url !== undefined && url.startsWith("http://") && !isLoopbackHost(urlHost(url))
    ? [
        `${key(path)} = ${show(url)}: plain http to another host, so ${what} would travel unencrypted and could be changed on the way; use https, or, for an emulator on a network you trust, ${ackFix("awsEndpointOverHttp")}`,
      ]
    : [];
}
