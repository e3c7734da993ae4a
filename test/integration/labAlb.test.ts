import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { LabAlbHarness, startBackend, startLabAlbHarness, targetOf, get, waitState } from "../support/labAlbHarness";

let h: LabAlbHarness;
beforeAll(async () => {
  h = await startLabAlbHarness();
}, 60_000);
afterAll(async () => h?.stop());

describe("smoke", () => {
  it("works", async () => {
    const a = await startBackend();
    const { arn, url } = await h.newGroup();
    await h.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [targetOf(a)] }));
    console.log(JSON.stringify(await h.health(arn)));
    console.log(await waitState(h, arn, a, "healthy"));
    console.log(await get(url, "/x", "r-1"));
  }, 30_000);
});
