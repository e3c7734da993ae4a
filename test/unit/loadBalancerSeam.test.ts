/**
 * The load-balancer seam: a kind the steps have never heard of (a test-only fake) is registered, and
 * the typed steps run through it from the provider's entry point. A dispatch that chose the load
 * balancer itself instead of asking the registry would never reach the fake.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StepError } from "../../steps/context";
import { StepInputs, stepProviderMethods } from "../../steps/execute";
import { registerLoadBalancer } from "../../steps/lb/registry";
import { FakeLoadBalancer, fakeLoadBalancer, FakeTarget } from "./support/fakeLoadBalancer";

/**
 * The inputs as the provider receives them: JSON from the engine. The compiled-in request types
 * name only the built-in kinds, which is the point: the fake reaches dispatch the way any data does.
 */
function providerInputs(step: string, request: object): StepInputs {
  return JSON.parse(JSON.stringify({ step, kind: "typed", release: "r2", request })) as StepInputs;
}

const m2: FakeTarget = { type: "fake", pool: "p", member: "m2" };

describe("a third load-balancer kind, registered by the test, runs the typed steps", () => {
  let fake: FakeLoadBalancer;
  let unregister: () => void;
  let tmp: string;
  let progress: () => string;

  beforeEach(() => {
    fake = fakeLoadBalancer(["m1", "m2", "m3"]);
    unregister = registerLoadBalancer("fake", fake);
    tmp = mkdtempSync(path.join(tmpdir(), "gru-seam-"));
    process.env.GRU_PROGRESS_FILE = path.join(tmp, "progress.jsonl");
    progress = () => readFileSync(path.join(tmp, "progress.jsonl"), "utf8");
  });

  afterEach(() => {
    unregister();
    delete process.env.GRU_PROGRESS_FILE;
    rmSync(tmp, { recursive: true, force: true });
  });

  it("drains, admits and checks the fleet through the fake, from the provider's create", async () => {
    const drained = await stepProviderMethods.create(
      providerInputs("node-2/drain", { kind: "drain", lb: m2, minHealthy: 1, drainTimeoutSeconds: 5 }),
    );
    expect(drained.outs.result).toEqual({ drainSeconds: 0, alreadyOut: false });
    expect(fake.inRotation.get("m2")).toBe(false);
    expect(progress()).toContain("[node-2/drain]");
    expect(progress()).toContain("fake drain of m2");

    const fleet = { type: "fake", pool: "p", expected: ["m1", "m3"] };
    const verified = await stepProviderMethods.create(
      providerInputs("db/fleet-verify", {
        kind: "fleet-verify",
        lb: fleet,
        targetVersion: "2",
        reported: { m1: "2.0", m3: "2.1" },
      }),
    );
    expect(verified.outs.result).toEqual({ members: ["m1", "m3"] });
    // A dotted prefix, not a string prefix: a node on 27.1.1 does not run "2".
    await expect(
      stepProviderMethods.create(
        providerInputs("db/fleet-verify", {
          kind: "fleet-verify",
          lb: fleet,
          targetVersion: "2",
          reported: { m1: "2.0", m3: "27.1.1" },
        }),
      ),
    ).rejects.toThrow("not every node runs 2: m3 reports '27.1.1'; db contract will not run");

    const admitted = await stepProviderMethods.create(
      providerInputs("node-2/admit", { kind: "admit", lb: m2, healthTimeoutSeconds: 5 }),
    );
    expect(admitted.outs.result).toEqual({ admitSeconds: 0 });
    expect(fake.inRotation.get("m2")).toBe(true);

    expect(fake.calls).toEqual(["drain p/m2 minHealthy=1", "fleet p", "admit p/m2"]);
  });

  it("the preflight's fleet check and the bake go through the fake too", async () => {
    const bake = { kind: "bake", lb: m2, windowSeconds: 0, errorBudget: 0, pollIntervalMs: 10 };
    const baked = await stepProviderMethods.create(providerInputs("node-2/bake", bake));
    expect(baked.outs.result).toEqual({ bakeErrors: 0, bakeSeconds: expect.any(Number) });
    expect(progress()).toContain("baking m2 for 0 s (fake: it must stay in rotation)");
    expect(progress()).toContain("bake passed: m2 stayed healthy");

    fake.inRotation.set("m2", false);
    const failure = stepProviderMethods.create(providerInputs("node-2/bake", bake));
    await expect(failure).rejects.toThrow(
      /bake of m2 failed after .* s: it left; m2 is out of the fake pool/,
    );
    expect(fake.calls).toEqual(["watch p/m2", "watch p/m2", "take out p/m2"]);
  });

  it("a kind nobody registered fails the step before anything is touched", async () => {
    unregister();
    const failure = stepProviderMethods.create(
      providerInputs("node-2/drain", { kind: "drain", lb: m2, minHealthy: 1, drainTimeoutSeconds: 5 }),
    );
    await expect(failure).rejects.toBeInstanceOf(StepError);
    await expect(failure).rejects.toThrow(/no load balancer of type "fake" \(known: alb, haproxy\)/);
    expect(fake.calls).toEqual([]);
    unregister = registerLoadBalancer("fake", fake);
  });
});
