import type { Deployment } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { buildPlan } from "../../plan/plan";
import {
  DB_STEP_KINDS,
  dbStep,
  FLEET_VERIFY_STEP,
  NODE_STEP_KINDS,
  nodeScope,
  nodeStep,
  parseNodeStep,
  parseStepId,
  PREFLIGHT_STEP,
  RELEASE_CHANGE_KINDS,
} from "../../plan/stepIds";
import { contractDone, startsToRepeat, upgradedNodes } from "../../driver/resume";
import { nodeOf } from "../../policy/rules";
import { haproxyStack, parsed } from "./fixtures";

describe("step ids: built and parsed in one module", () => {
  it("round-trips every node step kind, for the upgrade and for the rollback", () => {
    for (const kind of NODE_STEP_KINDS) {
      expect(parseStepId(nodeStep("node-2", kind))).toEqual({
        scope: "node",
        rollback: false,
        node: "node-2",
        kind,
      });
      expect(parseStepId(nodeStep("node-2", kind, true))).toEqual({
        scope: "node",
        rollback: true,
        node: "node-2",
        kind,
      });
    }
  });

  it("round-trips every database step, the preflight and the fleet check", () => {
    for (const kind of DB_STEP_KINDS) {
      expect(parseStepId(dbStep(kind))).toEqual({ scope: "db", rollback: false, kind });
    }
    expect(parseStepId(PREFLIGHT_STEP)).toEqual({ scope: "preflight", rollback: false, kind: "preflight" });
    expect(parseStepId(FLEET_VERIFY_STEP)).toEqual({ scope: "fleet", rollback: false, kind: "verify" });
  });

  it("builds the runbook's names, the rollback's under rollback/", () => {
    expect(nodeStep("node-2", "drain")).toBe("node-2/drain");
    expect(nodeStep("node-2", "drain", true)).toBe("rollback/node-2/drain");
    expect(nodeScope("node-2")).toBe("node-2");
    expect(nodeScope("node-2", true)).toBe("rollback/node-2");
    expect(dbStep("contract")).toBe("db/contract");
    expect(parseStepId("rollback/node-2/drain")).toMatchObject({
      rollback: true,
      node: "node-2",
      kind: "drain",
    });
  });

  it("tells a node named like a scope from that scope's steps", () => {
    expect(parseStepId("db/drain")).toEqual({ scope: "node", rollback: false, node: "db", kind: "drain" });
    expect(parseStepId("rollback/admit")).toEqual({
      scope: "node",
      rollback: false,
      node: "rollback",
      kind: "admit",
    });
    expect(parseStepId("rollback/rollback/admit")).toMatchObject({ rollback: true, node: "rollback" });
  });

  it("rejects what is no step id: components, unknown kinds, malformed names", () => {
    for (const id of [
      "",
      "node-2",
      "db",
      "glance-upgrade",
      "node-2/",
      "/drain",
      "node-2//drain",
      "node-2/dance",
      "node-2/attach",
      "db/bogus",
      "fleet/check",
      "preflight/x",
      "rollback/node-2",
      "rollback/node-2/dance",
      "rollback/db/contract",
      "other/node-2/drain",
      "rollback/node-2/drain/x",
    ]) {
      expect(parseStepId(id), id).toBeUndefined();
    }
    expect(parseNodeStep("db/contract")).toBeUndefined();
    expect(parseNodeStep("node-2/drain")).toMatchObject({ node: "node-2", kind: "drain" });
  });

  it("the policy pack reads nodes from the same ids, the bake included", () => {
    expect(nodeOf("node-2/bake")).toBe("node-2");
    expect(nodeOf("rollback/node-2/drain")).toBe("rollback/node-2");
    expect(nodeOf("db/contract")).toBeUndefined();
    expect(nodeOf("fleet/verify")).toBeUndefined();
  });
});

/**
 * The ids are resource names in every stack's state: resume and rollback read them back. These pin
 * the names and check, from the plan's own steps, that the driver finds what it looks for, so a
 * renamed kind fails here instead of at a resume.
 */
describe("step ids: what the state of a running stack holds", () => {
  it("keeps the names existing states hold", () => {
    // Kinds may be added (upgrade-check came with Glance-aware checks, prestage with prestageCommand,
    // config-check with the check of the NEW NODE's config); the existing names never change.
    expect(NODE_STEP_KINDS.join(" ")).toBe(
      "provision prestage drain stop upgrade upgrade-check config-check start admit bake version",
    );
    expect(DB_STEP_KINDS.join(" ")).toBe(
      "backup allow-functions expand migrate verify contract restore-setting",
    );
    expect(RELEASE_CHANGE_KINDS.join(" ")).toBe("drain stop upgrade start admit");
  });

  const baked = buildPlan(parsed(haproxyStack(3, { bake: { windowSeconds: 60 } })));
  const RELEASE = baked.targetRelease;
  const urn = (step: string) =>
    `urn:pulumi:prod::glance-rolling-upgrade::pulumi-nodejs:dynamic:Resource::${step}`;
  /** The state after the plan's steps up to (and with) `last` finished. */
  const stateUpTo = (last: string): Deployment => {
    const ids = baked.steps.map((s) => s.id);
    const done = ids.slice(0, ids.indexOf(last) + 1);
    expect(done.at(-1)).toBe(last);
    return {
      version: 3,
      deployment: {
        resources: done.map((step) => ({ urn: urn(step), outputs: { step, release: RELEASE } })),
      },
    };
  };

  it("every plan step id parses, and names its node", () => {
    for (const step of baked.steps) {
      const parsedId = parseStepId(step.id);
      expect(parsedId, step.id).toBeDefined();
      if (step.node !== undefined) expect(parsedId).toMatchObject({ scope: "node", node: step.node });
    }
  });

  it("each wave node changes release with exactly the kinds the rollback replays", () => {
    const kinds = baked.steps.filter((s) => s.node === "node-2").map((s) => parseNodeStep(s.id)?.kind);
    expect(kinds).toEqual([...RELEASE_CHANGE_KINDS, "bake", "version"]);
  });

  it("resume finds a node whose bake did not pass from the plan's own ids", () => {
    const state = stateUpTo(nodeStep("node-2", "admit"));
    expect(startsToRepeat(state, RELEASE, true)).toEqual([
      urn(nodeStep("node-2", "start")),
      urn(nodeStep("node-2", "admit")),
    ]);
    expect(startsToRepeat(stateUpTo(nodeStep("node-2", "bake")), RELEASE, true)).toEqual([]);
  });

  it("rollback finds the upgraded nodes, and refuses once db contract ran, from the plan's own ids", () => {
    expect(upgradedNodes(stateUpTo(nodeStep("node-2", "upgrade")), RELEASE)).toEqual(["node-1", "node-2"]);
    expect(contractDone(stateUpTo(nodeStep("node-3", "version")), RELEASE)).toBe(false);
    expect(contractDone(stateUpTo(dbStep("contract")), RELEASE)).toBe(true);
  });
});
