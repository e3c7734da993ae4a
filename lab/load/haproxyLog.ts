/**
 * HAProxy's request log as the lab writes it (`option httplog`, the load client's X-Request-Id
 * captured in braces), read back so a failure can be matched with what HAProxy saw.
 */
import * as fs from "node:fs";

export interface HaproxyLogLine {
  /** Epoch milliseconds of the accept date (HAProxy logs local time, as this process reads it). */
  acceptedAt: number;
  client: string;
  backend: string;
  server: string;
  /** TR/Tw/Tc/Tr/Ta as logged, e.g. "0/0/0/12/13". */
  timers: string;
  status: number;
  /** Session state at disconnection: `----` for a normal close, e.g. `SD--` for a server that died mid-body. */
  termination: string;
  /** The captured X-Request-Id, when the request carried one. */
  requestId?: string;
  request: string;
  raw: string;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const HTTPLOG =
  /^(\S+) \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})\.(\d{3})\] \S+ ([^/\s]+)\/(\S+) (\S+) (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \S+ \S+(?: \{([^}]*)\})?(?: \{[^}]*\})? "(.*)"$/;

export function parseHaproxyLogLine(raw: string): HaproxyLogLine | undefined {
  const m = HTTPLOG.exec(raw.trimEnd());
  if (!m) return undefined;
  const [, client, day, month, year, hour, minute, second, ms] = m;
  const acceptedAt = new Date(
    Number(year),
    MONTHS.indexOf(month),
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Number(ms),
  ).getTime();
  const captured = m[14]?.split("|")[0];
  return {
    acceptedAt,
    client,
    backend: m[9],
    server: m[10],
    timers: m[11],
    status: Number(m[12]),
    termination: m[13],
    requestId: captured ? captured : undefined,
    request: m[15],
    raw: raw.trimEnd(),
  };
}

export function parseHaproxyLog(text: string): HaproxyLogLine[] {
  return text.split("\n").flatMap((line) => parseHaproxyLogLine(line) ?? []);
}

export function readHaproxyLog(file: string): HaproxyLogLine[] {
  return fs.existsSync(file) ? parseHaproxyLog(fs.readFileSync(file, "utf8")) : [];
}

/** A 5xx (or no status), or a session that did not close normally (a client abort, a server close, a timeout). */
export function isAbnormal(line: HaproxyLogLine): boolean {
  return line.termination !== "----" || line.status < 100 || line.status >= 500;
}
