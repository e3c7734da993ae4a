import { describe, expect, it } from "vitest";
import {
  backendNamesOf,
  parseRuntimeAddress,
  parseStatCsv,
  serverStatsOf,
} from "../../steps/lb/haproxyRuntime";

// Captured from HAProxy 2.6 (`show stat`), trimmed to the first 45 columns, plus a second backend.
const SHOW_STAT = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other
fe_glance,FRONTEND,,,0,0,2048,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0
glance,n1,0,0,3,4,,10,0,0,,0,,2,1,0,0,UP,1,1,0,0,0,0,0,,1,3,1,,0,,2,0,,0,L7OK,200,2,0,10,0,0,7,0
glance,n2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,0,1,0,0,0,0,0,,1,3,2,,0,,2,0,,0,* L7OK,200,1,0,0,0,0,0,0
glance,n3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,0,0,,1,3,3,,0,,2,0,,0,,,,0,0,0,0,0,0
glance,BACKEND,0,0,3,4,205,10,0,0,0,0,,2,1,0,0,UP,2,2,0,,0,0,0,,1,3,0,,0,,1,0,,0,,,,0,10,0,0,7,0
other,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,0,0,0,0,,1,4,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0
other,BACKEND,0,0,0,0,205,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,0,0,0,,1,4,0,,0,,1,0,,0,,,,0,0,0,0,0,0

`;

describe("parseStatCsv / serverStatsOf", () => {
  const rows = parseStatCsv(SHOW_STAT);

  it("keys every line by the header's column names", () => {
    expect(rows).toHaveLength(7);
    expect(rows[1]).toMatchObject({ pxname: "glance", svname: "n1", scur: "3", status: "UP", type: "2" });
  });

  it("returns only the server lines of the asked backend, numbers parsed", () => {
    expect(serverStatsOf(rows, "glance")).toEqual([
      { server: "n1", status: "UP", scur: 3, weight: 1, checkStatus: "L7OK", hrsp5xx: 7, eresp: 1, econ: 2 },
      {
        server: "n2",
        status: "DRAIN",
        scur: 0,
        weight: 0,
        checkStatus: "* L7OK",
        hrsp5xx: 0,
        eresp: 0,
        econ: 0,
      },
      { server: "n3", status: "MAINT", scur: 0, weight: 1, checkStatus: "", hrsp5xx: 0, eresp: 0, econ: 0 },
    ]);
    expect(serverStatsOf(rows, "other").map((s) => s.status)).toEqual(["DOWN 1/2"]);
    expect(serverStatsOf(rows, "absent")).toEqual([]);
  });

  it("lists the backends", () => {
    expect(backendNamesOf(rows)).toEqual(["glance", "other"]);
  });

  it("rejects an answer without a header, quoting it", () => {
    expect(() => parseStatCsv("Unknown command.\n")).toThrow(
      /no "# pxname,..." header: got "Unknown command/,
    );
  });
});

describe("parseRuntimeAddress", () => {
  it("understands unix and TCP forms", () => {
    expect(parseRuntimeAddress("unix:/run/haproxy/admin.sock")).toEqual({ path: "/run/haproxy/admin.sock" });
    expect(parseRuntimeAddress("/run/haproxy/admin.sock")).toEqual({ path: "/run/haproxy/admin.sock" });
    expect(parseRuntimeAddress("127.0.0.1:9999")).toEqual({ host: "127.0.0.1", port: 9999 });
    expect(parseRuntimeAddress("ipv4@127.0.0.1:9999")).toEqual({ host: "127.0.0.1", port: 9999 });
    expect(parseRuntimeAddress("[::1]:9999")).toEqual({ host: "::1", port: 9999 });
  });

  it("rejects what it cannot read, naming the accepted forms", () => {
    for (const bad of ["localhost", "127.0.0.1:", "127.0.0.1:99999", ":80"]) {
      expect(() => parseRuntimeAddress(bad)).toThrow(/use "unix:\/path\/to\/admin.sock" or "host:port"/);
    }
  });
});
