/**
 * The lab ALB's request log: one line per request in HAProxy's httplog format (with the client's
 * X-Request-Id in braces), so lab/load/haproxyLog.ts reads the ALB lab's log as it reads HAProxy's.
 */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** HAProxy's accept date, in local time as HAProxy logs it: `06/Dec/2026:13:16:01.123`. */
function logDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`
  );
}

/** One request's line (ending in a newline); `timers` is HAProxy's Tq/Tw/Tc/Tr/Tt. */
export function accessLogLine(r: {
  client: string;
  acceptedAt: number;
  groupName: string;
  serverName: string;
  timers: string;
  status: number;
  bytes: number;
  termination: string;
  requestId: string | undefined;
  request: string;
}): string {
  return (
    `${r.client} [${logDate(r.acceptedAt)}] alb~ ${r.groupName}/${r.serverName} ${r.timers} ` +
    `${r.status} ${r.bytes} - - ${r.termination} 0/0/0/0/0 0/0 {${r.requestId ?? ""}} ` +
    `"${r.request}"\n`
  );
}
