/**
 * The lab ALB's pure parts: the health-check matcher (Matcher.HttpCode: "200", "200-299", "200,202"),
 * the Query API's target list, and the DescribeTargetHealth answer it builds (which the AWS SDK
 * parses in test/integration/labAlb.test.ts).
 */
import { describe, expect, it } from "vitest";
import { matcherAccepts } from "../../lab/services/albHealthCheck";
import { targetHealthXml, targetsOf } from "../../lab/services/alb";

describe("matcherAccepts", () => {
  it.each([
    ["200", 200, true],
    ["200", 204, false],
    ["200-299", 200, true],
    ["200-299", 299, true],
    ["200-299", 300, false],
    ["200,202", 202, true],
    ["200,202", 201, false],
    ["200, 204-206", 205, true],
  ])("%s accepts %i: %s", (matcher, code, accepted) => {
    expect(matcherAccepts(matcher, code)).toBe(accepted);
  });
});

describe("targetsOf", () => {
  it("reads Targets.member.N with the group's port where none is given", () => {
    const params = new URLSearchParams({
      "Targets.member.1.Id": "i-1",
      "Targets.member.2.Id": "10.0.0.5",
      "Targets.member.2.Port": "8080",
    });
    expect(targetsOf(params, 9292)).toEqual([
      { id: "i-1", port: 9292 },
      { id: "10.0.0.5", port: 8080 },
    ]);
    expect(targetsOf(new URLSearchParams(), 9292)).toEqual([]);
  });
});

describe("targetHealthXml", () => {
  it("writes a reason and description only when there is one, escaped", () => {
    expect(
      targetHealthXml([
        { id: "i-1", port: 9292, healthCheckPort: "9292", state: "healthy" },
        {
          id: "a<b",
          port: 1,
          healthCheckPort: "2",
          state: "unhealthy",
          reason: "Target.Timeout",
          description: "Request timed out & more",
        },
      ]),
    ).toBe(
      "<TargetHealthDescriptions>" +
        "<member><HealthCheckPort>9292</HealthCheckPort><Target><Id>i-1</Id><Port>9292</Port></Target>" +
        "<TargetHealth><State>healthy</State></TargetHealth></member>" +
        "<member><HealthCheckPort>2</HealthCheckPort><Target><Id>a&lt;b</Id><Port>1</Port></Target>" +
        "<TargetHealth><State>unhealthy</State><Reason>Target.Timeout</Reason>" +
        "<Description>Request timed out &amp; more</Description></TargetHealth></member>" +
        "</TargetHealthDescriptions>",
    );
  });
});
