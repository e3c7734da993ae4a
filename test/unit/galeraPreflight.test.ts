import { describe, expect, it } from "vitest";
import { galeraMemberAddress } from "../../plan/config/databaseSchema";
import { describeMember, type GaleraMemberReading, galeraProblems } from "../../steps/db/galera";
import { configErrorOf, haproxyStack, parsed } from "./fixtures";

function synced(address: string, nodeName: string, size = 3): GaleraMemberReading {
  return {
    address,
    nodeName,
    wsrepOn: true,
    ready: true,
    clusterStatus: "Primary",
    state: "Synced",
    clusterSize: size,
    clusterUuid: "c1",
  };
}

const healthy = [
  synced("10.0.0.11:3306", "db-1"),
  synced("10.0.0.12:3306", "db-2"),
  synced("10.0.0.13:3306", "db-3"),
];

describe("database.galeraMembers", () => {
  it("takes host or host:port, port 3306 by default, IPv6 in brackets", () => {
    expect(galeraMemberAddress("10.0.0.11")).toEqual({ host: "10.0.0.11", port: 3306 });
    expect(galeraMemberAddress("db-2.internal:3307")).toEqual({ host: "db-2.internal", port: 3307 });
    expect(galeraMemberAddress("[fd00::1]:3306")).toEqual({ host: "fd00::1", port: 3306 });
    const config = parsed(
      haproxyStack(3, { database: { galeraMembers: ["10.0.0.11", "10.0.0.12:3307", "[fd00::1]:3306"] } }),
    );
    expect(config.database.galeraMembers).toEqual(["10.0.0.11", "10.0.0.12:3307", "[fd00::1]:3306"]);
    expect(parsed(haproxyStack(3)).database.galeraMembers).toBeUndefined();
  });

  it("refuses a bad address, a port out of range, a member named twice and an empty list", () => {
    const problems = (members: unknown) =>
      configErrorOf(haproxyStack(3, { database: { galeraMembers: members } })).problems.join("\n");
    expect(problems(["10.0.0.11:3306; drop"])).toContain(
      'use a member\'s own address as "host" or "host:port"',
    );
    expect(problems(["10.0.0.11:70000"])).toContain("the port must be 1-65535");
    expect(problems(["10.0.0.11", "10.0.0.11:3306"])).toContain("name each member once");
    expect(problems([])).toContain("galeraMembers");
  });
});

describe("the Galera preflight's verdict", () => {
  it("passes a cluster whose every member is Synced, ready, Primary and sees all of them", () => {
    expect(galeraProblems(healthy)).toEqual([]);
    expect(describeMember(healthy[0])).toBe("10.0.0.11:3306 (db-1): Synced, Primary, size 3, ready");
  });

  it("refuses a member that is not Synced, naming it and its state", () => {
    const donor = { ...healthy[1], state: "Donor/Desynced" };
    expect(galeraProblems([healthy[0], donor, healthy[2]])).toEqual([
      "10.0.0.12:3306 (db-2): its state is Donor/Desynced, not Synced",
    ]);
  });

  it("refuses an unreachable member and the smaller cluster the others see", () => {
    const down: GaleraMemberReading = { address: "10.0.0.13:3306", unreachable: "connect ECONNREFUSED" };
    expect(
      galeraProblems([synced("10.0.0.11:3306", "db-1", 2), synced("10.0.0.12:3306", "db-2", 2), down]),
    ).toEqual([
      "10.0.0.11:3306 (db-1): it sees a cluster of 2, not the 3 member(s) named",
      "10.0.0.12:3306 (db-2): it sees a cluster of 2, not the 3 member(s) named",
      "10.0.0.13:3306 is unreachable: connect ECONNREFUSED",
    ]);
  });

  it("refuses a member outside the Primary component or not ready", () => {
    const partitioned = {
      ...healthy[2],
      clusterStatus: "non-Primary",
      ready: false,
      state: "Initialized",
      clusterSize: 1,
    };
    expect(galeraProblems([healthy[0], healthy[1], partitioned])).toEqual([
      "10.0.0.13:3306 (db-3): wsrep_ready is OFF; it is outside the Primary component (non-Primary); " +
        "its state is Initialized, not Synced; it sees a cluster of 1, not the 3 member(s) named",
    ]);
  });

  it("refuses a server that is not a Galera member, and members of two different clusters", () => {
    const standalone: GaleraMemberReading = { address: "10.0.0.13:3306", nodeName: "db-3", wsrepOn: false };
    expect(galeraProblems([healthy[0], healthy[1], standalone])).toEqual([
      "10.0.0.13:3306 (db-3) is not a Galera member (wsrep_on is OFF): check database.galeraMembers",
    ]);
    const other = { ...healthy[2], clusterUuid: "c2" };
    expect(galeraProblems([healthy[0], healthy[1], other]).join("\n")).toContain(
      "the members answer for 2 different clusters",
    );
  });

  it("a cluster bigger than the members named is refused too (a member left out of the config)", () => {
    expect(
      galeraProblems([synced("10.0.0.11:3306", "db-1", 3), synced("10.0.0.12:3306", "db-2", 3)]),
    ).toEqual([
      "10.0.0.11:3306 (db-1): it sees a cluster of 3, not the 2 member(s) named",
      "10.0.0.12:3306 (db-2): it sees a cluster of 3, not the 2 member(s) named",
    ]);
  });
});
