/**
 * Proves that HAProxy's request log, as the lab writes it (HAProxy 2.6, `option httplog`, the client's
 * X-Request-Id captured in braces), is read back field by field: two real lines from the lab, and
 * synthesized abnormal variants in the same format (503 `SC--`, `<NOSRV>`, `SD--` with a `+`-prefixed
 * byte count, no captured id), while HAProxy's own messages and empty lines are skipped. Also proves
 * which lines `isAbnormal` flags.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  HaproxyLogLine,
  isAbnormal,
  parseHaproxyLog,
  parseHaproxyLogLine,
  readHaproxyLog,
} from "../../lab/load/haproxyLog";

// Real lines from the lab's haproxy.log.
const REAL_DOWNLOAD =
  '127.0.0.1:42550 [26/Nov/2026:12:59:46.033] fe_glance glance/node-1 0/0/0/38/1385 200 8388837 - - ---- 11/11/2/1/0 0/0 {load-16339-ddf525-5787} "GET /v2/images/62c8828d-97d0-4508-956c-06e8d4166566/file HTTP/1.1"';
const REAL_DELETE =
  '127.0.0.1:52302 [26/Nov/2026:12:59:47.416] fe_glance glance/node-1 0/0/0/57/57 204 188 - - ---- 11/11/1/0/0 0/0 {load-16339-ddf525-5907} "DELETE /v2/images/d11f6dd2-09c9-4abb-ab98-b85843df0b18 HTTP/1.1"';

// Synthesized in the same format.
const SERVER_CLOSED_503 =
  '127.0.0.1:42600 [26/Nov/2026:12:59:48.100] fe_glance glance/node-2 0/0/-1/-1/3002 503 217 - - SC-- 12/12/0/0/3 0/0 {load-16339-ddf525-6001} "GET /v2/images?limit=20 HTTP/1.1"';
const NO_SERVER_503 =
  '127.0.0.1:42602 [26/Nov/2026:12:59:48.200] fe_glance glance/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 12/12/0/0/0 0/0 {load-16339-ddf525-6002} "GET /v2/images?limit=20 HTTP/1.1"';
const SERVER_DIED_MID_BODY =
  '127.0.0.1:42604 [26/Nov/2026:12:59:49.007] fe_glance glance/node-3 0/0/0/40/+2500 200 +1234 - - SD-- 10/10/1/0/0 0/0 {load-16339-ddf525-6003} "GET /v2/images/62c8828d-97d0-4508-956c-06e8d4166566/file HTTP/1.1"';
const EMPTY_CAPTURE =
  '127.0.0.1:42606 [26/Nov/2026:12:59:50.500] fe_glance glance/node-1 0/0/0/3/3 200 1520 - - ---- 9/9/0/0/0 0/0 {} "GET /healthcheck HTTP/1.1"';
const NO_CAPTURE =
  '127.0.0.1:42608 [26/Nov/2026:12:59:50.600] fe_glance glance/node-2 0/0/0/4/4 200 1520 - - ---- 9/9/0/0/0 0/0 "GET /healthcheck HTTP/1.1"';
const NOT_FOUND =
  '127.0.0.1:42610 [26/Nov/2026:12:59:51.000] fe_glance glance/node-2 0/0/0/9/9 404 312 - - ---- 9/9/0/0/0 0/0 {load-16339-ddf525-6004} "GET /v2/images/00000000-0000-0000-0000-000000000000 HTTP/1.1"';
const NO_STATUS =
  '127.0.0.1:42612 [26/Nov/2026:12:59:51.250] fe_glance glance/node-3 0/0/0/-1/120 -1 0 - - CH-- 9/9/0/0/0 0/0 {load-16339-ddf525-6005} "GET /v2/images?limit=20 HTTP/1.1"';

const HAPROXY_MESSAGES = [
  "[NOTICE]   (12345) : haproxy version is 2.6.12-1",
  "[WARNING]  (12345) : config : missing timeouts for backend 'stats'.",
  "[NOTICE]   (12345) : New worker (12346) forked",
  "Proxy fe_glance started.",
  "",
  "   ",
];

function parsed(raw: string): HaproxyLogLine {
  const line = parseHaproxyLogLine(raw);
  if (line === undefined) throw new Error(`not parsed: ${raw}`);
  return line;
}

describe("parseHaproxyLogLine on the lab's real lines", () => {
  it("reads every field of a seed download", () => {
    expect(parsed(REAL_DOWNLOAD)).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 46, 33).getTime(),
      client: "127.0.0.1:42550",
      backend: "glance",
      server: "node-1",
      timers: "0/0/0/38/1385",
      status: 200,
      termination: "----",
      requestId: "load-16339-ddf525-5787",
      request: "GET /v2/images/62c8828d-97d0-4508-956c-06e8d4166566/file HTTP/1.1",
      raw: REAL_DOWNLOAD,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(parsed(REAL_DOWNLOAD))).toBe(false);
  });

  it("reads every field of a delete", () => {
    expect(parsed(REAL_DELETE)).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 47, 416).getTime(),
      client: "127.0.0.1:52302",
      backend: "glance",
      server: "node-1",
      timers: "0/0/0/57/57",
      status: 204,
      termination: "----",
      requestId: "load-16339-ddf525-5907",
      request: "DELETE /v2/images/d11f6dd2-09c9-4abb-ab98-b85843df0b18 HTTP/1.1",
      raw: REAL_DELETE,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(parsed(REAL_DELETE))).toBe(false);
  });

  it("drops a trailing carriage return or blank from the line and its raw text", () => {
    expect(parsed(`${REAL_DELETE}\r`)).toEqual(parsed(REAL_DELETE));
    expect(parsed(`${REAL_DELETE}  `).raw).toBe(REAL_DELETE);
  });
});

describe("parseHaproxyLogLine on abnormal and unusual lines", () => {
  it("a 503 from a server that refused the connection (SC--)", () => {
    const line = parsed(SERVER_CLOSED_503);
    expect(line).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 48, 100).getTime(),
      client: "127.0.0.1:42600",
      backend: "glance",
      server: "node-2",
      timers: "0/0/-1/-1/3002",
      status: 503,
      termination: "SC--",
      requestId: "load-16339-ddf525-6001",
      request: "GET /v2/images?limit=20 HTTP/1.1",
      raw: SERVER_CLOSED_503,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(line)).toBe(true);
  });

  it("a 503 with no server to send it to (<NOSRV>)", () => {
    const line = parsed(NO_SERVER_503);
    expect(line).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 48, 200).getTime(),
      client: "127.0.0.1:42602",
      backend: "glance",
      server: "<NOSRV>",
      timers: "0/-1/-1/-1/0",
      status: 503,
      termination: "SC--",
      requestId: "load-16339-ddf525-6002",
      request: "GET /v2/images?limit=20 HTTP/1.1",
      raw: NO_SERVER_503,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(line)).toBe(true);
  });

  it("a 200 whose server died mid-body (SD--, `+` before Ta and the byte count)", () => {
    const line = parsed(SERVER_DIED_MID_BODY);
    expect(line).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 49, 7).getTime(),
      client: "127.0.0.1:42604",
      backend: "glance",
      server: "node-3",
      timers: "0/0/0/40/+2500",
      status: 200,
      termination: "SD--",
      requestId: "load-16339-ddf525-6003",
      request: "GET /v2/images/62c8828d-97d0-4508-956c-06e8d4166566/file HTTP/1.1",
      raw: SERVER_DIED_MID_BODY,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(line)).toBe(true);
  });

  it("a request without an X-Request-Id (empty braces) has no request id", () => {
    const line = parsed(EMPTY_CAPTURE);
    expect(line).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 50, 500).getTime(),
      client: "127.0.0.1:42606",
      backend: "glance",
      server: "node-1",
      timers: "0/0/0/3/3",
      status: 200,
      termination: "----",
      requestId: undefined,
      request: "GET /healthcheck HTTP/1.1",
      raw: EMPTY_CAPTURE,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(line)).toBe(false);
  });

  it("a line without any capture braces has no request id", () => {
    const line = parsed(NO_CAPTURE);
    expect(line).toEqual({
      acceptedAt: new Date(2026, 10, 26, 12, 59, 50, 600).getTime(),
      client: "127.0.0.1:42608",
      backend: "glance",
      server: "node-2",
      timers: "0/0/0/4/4",
      status: 200,
      termination: "----",
      requestId: undefined,
      request: "GET /healthcheck HTTP/1.1",
      raw: NO_CAPTURE,
    } satisfies HaproxyLogLine);
    expect(isAbnormal(line)).toBe(false);
  });

  it("takes the X-Request-Id from the first of several captures, and ignores a response capture", () => {
    const several = REAL_DELETE.replace("{load-16339-ddf525-5907}", "{load-16339-ddf525-5907|glance-cli}");
    expect(parsed(several).requestId).toBe("load-16339-ddf525-5907");
    const withResponse = REAL_DELETE.replace("{load-16339-ddf525-5907}", "{load-16339-ddf525-5907} {node-1}");
    expect(parsed(withResponse)).toMatchObject({
      requestId: "load-16339-ddf525-5907",
      request: "DELETE /v2/images/d11f6dd2-09c9-4abb-ab98-b85843df0b18 HTTP/1.1",
    });
  });

  it("a 4xx that closed normally is not abnormal", () => {
    const line = parsed(NOT_FOUND);
    expect(line).toMatchObject({ status: 404, termination: "----", requestId: "load-16339-ddf525-6004" });
    expect(isAbnormal(line)).toBe(false);
  });

  it("a request that got no status at all (-1) is abnormal", () => {
    const line = parsed(NO_STATUS);
    expect(line).toMatchObject({ status: -1, termination: "CH--", server: "node-3", timers: "0/0/0/-1/120" });
    expect(isAbnormal(line)).toBe(true);
  });

  it.each(HAPROXY_MESSAGES)("skips HAProxy's own message %j", (message) => {
    expect(parseHaproxyLogLine(message)).toBeUndefined();
  });
});

describe("isAbnormal", () => {
  const base = parsed(REAL_DELETE);

  it.each([
    { status: 200, termination: "----", abnormal: false },
    { status: 204, termination: "----", abnormal: false },
    { status: 302, termination: "----", abnormal: false },
    { status: 499, termination: "----", abnormal: false },
    { status: 500, termination: "----", abnormal: true },
    { status: 502, termination: "----", abnormal: true },
    { status: 503, termination: "SC--", abnormal: true },
    { status: 200, termination: "SD--", abnormal: true },
    { status: 200, termination: "CD--", abnormal: true },
    { status: 200, termination: "cD--", abnormal: true },
    { status: 99, termination: "----", abnormal: true },
    { status: -1, termination: "CR--", abnormal: true },
  ])("status $status with $termination: $abnormal", ({ status, termination, abnormal }) => {
    expect(isAbnormal({ ...base, status, termination })).toBe(abnormal);
  });
});

describe("parseHaproxyLog / readHaproxyLog", () => {
  const text = [
    HAPROXY_MESSAGES[0],
    HAPROXY_MESSAGES[1],
    REAL_DOWNLOAD,
    "",
    HAPROXY_MESSAGES[2],
    REAL_DELETE,
    SERVER_CLOSED_503,
    NO_SERVER_503,
    SERVER_DIED_MID_BODY,
    EMPTY_CAPTURE,
    NO_CAPTURE,
    HAPROXY_MESSAGES[3],
    "",
  ].join("\n");
  const request = [
    REAL_DOWNLOAD,
    REAL_DELETE,
    SERVER_CLOSED_503,
    NO_SERVER_503,
    SERVER_DIED_MID_BODY,
    EMPTY_CAPTURE,
    NO_CAPTURE,
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-log-test-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps the request lines, in order, and skips everything else", () => {
    expect(parseHaproxyLog(text).map((l) => l.raw)).toEqual(request);
  });

  it("reads the same lines from a file, with CRLF line ends", () => {
    const file = path.join(dir, "haproxy.log");
    fs.writeFileSync(file, text.replace(/\n/g, "\r\n"));
    const lines = readHaproxyLog(file);
    expect(lines.map((l) => l.raw)).toEqual(request);
    expect(lines.filter(isAbnormal).map((l) => l.requestId)).toEqual([
      "load-16339-ddf525-6001",
      "load-16339-ddf525-6002",
      "load-16339-ddf525-6003",
    ]);
  });

  it("reads an absent file as no lines", () => {
    expect(readHaproxyLog(path.join(dir, "absent.log"))).toEqual([]);
  });
});
