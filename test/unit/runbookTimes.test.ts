/**
 * The driver's reading of the load balancer's settings for the runbook (driver/lbTimes.ts): none for
 * a kind without settings (HAProxy: the runbook an operator knows), and an ALB whose API does not
 * answer gives a runbook that says so instead of failing the command.
 */
import { describe, expect, it } from "vitest";
import { runbookTimes } from "../../driver/lbTimes";
import { albStack, haproxyStack, parsed } from "./fixtures";

describe("runbookTimes", () => {
  it("reads nothing for HAProxy", async () => {
    expect(await runbookTimes(parsed(haproxyStack(2)))).toBeUndefined();
  });

  it("says why for an ALB whose ELBv2 API does not answer", async () => {
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    try {
      const times = await runbookTimes(
        parsed(albStack(2, { loadBalancer: { region: "eu-west-1", endpoint: "http://127.0.0.1:1" } })),
      );
      expect(times).toEqual({
        unread: expect.stringMatching(
          /DescribeTargetGroups failed: .*; the preflight reads them again before anything changes$/,
        ),
      });
    } finally {
      process.env = saved;
    }
  }, 30_000);
});
