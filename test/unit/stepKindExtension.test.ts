/**
 * A new step kind with no production edit (issue 31): `fixture-probe`, declared and registered by a
 * test module (support/fixtureProbeKind.ts), runs from a stack config through the plan, the mocked
 * resource graph (both executors, and the rollback), the policy pack's rules and the summary. Each
 * part is checked twice: with the kind registered (it is there, in its place) and without it (it is
 * not), so the proof cannot pass by accident.
 */
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan, renderRunbook } from "../../plan/plan";
import { nodeStepKinds, releaseChangeKinds } from "../../plan/stepKinds";
import { checkRunbook, declaredOrder, RunbookResource } from "../../policy/rules";
import { renderSummary, Summary } from "../../driver/summary";
import { buildNodeScript } from "../../steps/node/scripts";
import { readStackConfig } from "../../plan/config/read";
import {
  mockStepResults,
  Registration,
  runMockProgram,
  runMockRollback,
  stackConfig,
} from "./support/mockProgram";
import { FIXTURE_PROBE, registerFixtureProbe } from "./support/fixtureProbeKind";
import { haproxyStack, parsed } from "./fixtures";

const SECRETS = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;
const PROBE_OUTPUT = "probed node-2: 28.2.0";

const asRules = (registrations: Registration[]): RunbookResource[] =>
  registrations.map(({ name, type, dependsOn }) => ({ name, type, dependsOn: [...dependsOn] }));

const resolved = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));

describe("without the test kind registered", () => {
  it("no plan, graph or summary has it (the control for everything below)", async () => {
    expect(nodeStepKinds()).not.toContain(FIXTURE_PROBE);
    const plan = buildPlan(parsed(haproxyStack(3)));
    expect(plan.steps.some((s) => s.id.endsWith(`/${FIXTURE_PROBE}`))).toBe(false);
    const { registrations } = await runMockProgram(stackConfig(3), SECRETS);
    expect(registrations.some((r) => r.name.endsWith(`/${FIXTURE_PROBE}`))).toBe(false);
    const summary: Summary = {
      "node-2/fixture-probe": {
        startedAt: "2026-01-01T00:00:00.000Z",
        endedAt: "2026-01-01T00:00:01.000Z",
        seconds: 1,
        result: { stdout: PROBE_OUTPUT },
      },
    };
    // An id of no declared kind: the summary lists it but shows none of its result.
    expect(renderSummary(summary)).not.toContain(PROBE_OUTPUT);
  });
});

describe("a step kind registered from a test module", () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerFixtureProbe();
  });
  afterAll(() => {
    unregister();
    mockStepResults.delete("node-2/fixture-probe");
  });

  it("is placed by the plan after each node's admit, and each next wave waits for it", () => {
    expect(releaseChangeKinds()).toEqual(["drain", "stop", "upgrade", "start", "admit", FIXTURE_PROBE]);
    const plan = buildPlan(parsed(haproxyStack(3)));
    const step = (id: string) => plan.steps.find((s) => s.id === id);
    for (const node of ["node-1", "node-2", "node-3"]) {
      expect(step(`${node}/fixture-probe`)).toMatchObject({
        scope: "node",
        kind: FIXTURE_PROBE,
        node,
        after: [`${node}/admit`],
        description: "probe: the node answers with release 2024.1 once back in rotation",
      });
    }
    expect(step("node-2/drain")?.after).toEqual(["node-1/fixture-probe"]);
    expect(step("node-3/drain")?.after).toEqual(["node-2/fixture-probe"]);
    expect(step("node-1/version")?.after).toEqual(["node-3/fixture-probe"]);
    expect(renderRunbook(plan)).toContain("node-2/fixture-probe");
  });

  it("is built from parsed stack config into the graph, with its script, its node's unit and its kind", async () => {
    mockStepResults.set("node-2/fixture-probe", { exitCode: 0, stdout: PROBE_OUTPUT, scriptSeconds: 0.1 });
    const { registrations, upgrade } = await runMockProgram(stackConfig(3), SECRETS);
    // The config the program parsed from those stack settings (the mocks hold them).
    const config = readStackConfig().config;
    const probe = registrations.find((r) => r.name === "node-2/fixture-probe");
    expect(probe?.type).toBe("pulumi-nodejs:dynamic:Resource");
    expect(probe?.dependsOn).toEqual(["node-2/admit"]);
    expect(registrations.find((r) => r.name === "node-3/drain")?.dependsOn).toEqual(["node-2/fixture-probe"]);
    const inputs = probe?.inputs ?? {};
    expect(inputs.kind).toBe(FIXTURE_PROBE);
    expect(inputs.node).toBe("node-2");
    const script = buildNodeScript(FIXTURE_PROBE, config, { name: "node-2" });
    expect(script).toContain(`echo "probed $GLANCE_NODE: $(${config.nodeCommands.versionCommand})"`);
    expect(inputs.request).toMatchObject({ kind: "script", run: { script, transport: "ssh" } });
    // A node step: it belongs to its node's unit, as every other step of the node does.
    const drain = registrations.find((r) => r.name === "node-2/drain")?.inputs ?? {};
    expect(inputs.identity).toEqual(drain.identity);

    // The policy pack's rules accept the graph, and check the order the kind declares.
    expect(checkRunbook(asRules(registrations))).toEqual([]);

    // The summary the program exports shows the result keys the kind declares.
    const outcomes = await resolved(upgrade.summary);
    expect(outcomes["node-2/fixture-probe"]?.result).toMatchObject({ stdout: PROBE_OUTPUT });
    const text = renderSummary({
      ...outcomes,
      "node-2/fixture-probe": {
        ...outcomes["node-2/fixture-probe"],
        startedAt: "2026-01-01T00:00:00.000Z",
        endedAt: "2026-01-01T00:00:01.000Z",
      },
    });
    expect(text).toMatch(/node-2\/fixture-probe +00:00:00 +\S+ s {2}stdout=probed node-2: 28\.2\.0/);
  });

  it("(negative control) the policy pack refuses a graph where it may run before its node's admit", async () => {
    const { registrations } = await runMockProgram(stackConfig(3), SECRETS);
    // Wired beside the admit instead of after it: whatever waited for the probe now waits for both.
    const broken = asRules(registrations).map((r) =>
      r.name === "node-2/fixture-probe"
        ? { ...r, dependsOn: ["node-2/start"] }
        : r.dependsOn.includes("node-2/fixture-probe")
          ? { ...r, dependsOn: [...r.dependsOn, "node-2/admit"] }
          : r,
    );
    expect(checkRunbook(broken)).toEqual([
      {
        rule: declaredOrder.name,
        message:
          "node-2/fixture-probe does not depend on node-2/admit: node-2's fixture-probe could run before its admit.",
        resource: "node-2/fixture-probe",
      },
    ]);
  });

  it("runs on the command executor too, again on an update (it only reads)", async () => {
    const { registrations } = await runMockProgram(stackConfig(2, { exec: "command" }), SECRETS);
    const probe = registrations.find((r) => r.name === "node-2/fixture-probe");
    expect(probe?.type).toBe("command:remote:Command");
    expect(probe?.inputs?.update).toBe(probe?.inputs?.create);
    expect(probe?.inputs?.triggers).toEqual(["2024.1", "node-2", FIXTURE_PROBE]);
  });

  it("is part of a rollback's release change, after the admit", async () => {
    const raw = stackConfig(3, { rollbackTo: { release: "2023.2", version: "27.1.1" } });
    const { registrations } = await runMockRollback(raw, SECRETS, ["node-2"]);
    const steps = registrations.filter(
      (r) => r.type === "pulumi-nodejs:dynamic:Resource" || r.name.endsWith("probe"),
    );
    expect(steps.map((r) => r.name).filter((n) => n.startsWith("rollback/node-2/"))).toEqual([
      "rollback/node-2/drain",
      "rollback/node-2/stop",
      "rollback/node-2/upgrade",
      "rollback/node-2/start",
      "rollback/node-2/admit",
      "rollback/node-2/fixture-probe",
    ]);
    expect(registrations.find((r) => r.name === "rollback/node-2/fixture-probe")?.dependsOn).toEqual([
      "rollback/node-2/admit",
    ]);
  });
});
