import { describe, expect, it } from "vitest";
import { nodeSummaries, renderSummary, Summary } from "../../driver/summary";

/** A step that ran from `start` to `end` (seconds after 10:00:00 UTC). */
function ran(start: number, end: number, result: Record<string, unknown> = {}) {
  const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 10, 0, 0) + s * 1000).toISOString();
  return { startedAt: at(start), endedAt: at(end), seconds: end - start, result };
}

/** Two nodes upgraded one after the other, with or without their prestage steps. */
function summaryOf(prestage: boolean): Summary {
  return {
    preflight: ran(0, 1, { versionsBefore: JSON.stringify({ "node-1": "27.1.1", "node-2": "27.1.1" }) }),
    "db/backup": ran(1, 2),
    ...(prestage
      ? {
          "node-1/prestage": ran(2, 14.5, { stdout: "pre-staged release 2024.1 (28.2.0) on node-1" }),
          "node-2/prestage": ran(2, 16, { stdout: "pre-staged release 2024.1 (28.2.0) on node-2" }),
        }
      : {}),
    "node-1/drain": ran(15, 15.5, { drainSeconds: 0.5 }),
    "node-1/admit": ran(24, 25),
    "node-2/drain": ran(26, 28, { drainSeconds: 2 }),
    "node-2/admit": ran(33, 34.5),
    "node-1/version": ran(35, 36, { stdout: "28.2.0" }),
    "node-2/version": ran(35, 36, { stdout: "28.2.0" }),
    "db/expand": ran(18, 19),
    "db/migrate": ran(19, 20),
    "db/contract": ran(37, 38),
  };
}

/** The rendered summary's lines from its "Nodes:" heading on. */
function fromNodesTable(text: string): string[] {
  const lines = text.split("\n");
  return lines.slice(lines.indexOf("Nodes:"));
}

describe("the summary's node table", () => {
  it("out of rotation runs from the drain's start to the admit's end; pre-staged when the prestage ended before the drain", () => {
    expect(nodeSummaries(summaryOf(true))).toEqual([
      {
        node: "node-1",
        drainSeconds: 0.5,
        outOfRotationSeconds: 10,
        prestaged: true,
        prestageSeconds: 12.5,
        releaseBefore: "27.1.1",
        releaseAfter: "28.2.0",
      },
      {
        node: "node-2",
        drainSeconds: 2,
        outOfRotationSeconds: 8.5,
        prestaged: true,
        prestageSeconds: 14,
        releaseBefore: "27.1.1",
        releaseAfter: "28.2.0",
      },
    ]);
    expect(nodeSummaries(summaryOf(false)).map((n) => n.prestaged)).toEqual([false, false]);
  });

  it("a prestage that ended after its drain started does not count as pre-staged", () => {
    const summary = { ...summaryOf(true), "node-1/prestage": ran(2, 15.2) };
    expect(nodeSummaries(summary)[0]).toMatchObject({
      node: "node-1",
      prestaged: false,
      prestageSeconds: 13.2,
    });
  });

  it("with prestage: the prestage steps in the step list, and a pre-staged column with what it means", () => {
    const text = renderSummary(summaryOf(true));
    expect(text).toContain("  node-1/prestage          10:00:02    12.5 s  stdout=pre-staged release 2024.1");
    const nodes = fromNodesTable(text);
    expect(nodes.slice(0, 6)).toEqual([
      "Nodes:",
      "  node            drain  out of rotation pre-staged      release before -> after",
      "  node-1          0.5 s           10.0 s yes (12.5 s)    27.1.1 -> 28.2.0",
      "  node-2          2.0 s            8.5 s yes (14.0 s)    27.1.1 -> 28.2.0",
      "  (out of rotation: from the start of the node's drain to the end of its admit; pre-staged: its",
      "   prestageCommand finished, in the time shown, before the drain, while the node still served)",
    ]);
  });

  it("without prestage: the table an operator knows, unchanged", () => {
    const text = renderSummary(summaryOf(false));
    const nodes = fromNodesTable(text);
    expect(nodes.slice(0, 5)).toEqual([
      "Nodes:",
      "  node            drain  out of rotation  release before -> after",
      "  node-1          0.5 s           10.0 s  27.1.1 -> 28.2.0",
      "  node-2          2.0 s            8.5 s  27.1.1 -> 28.2.0",
      "",
    ]);
    expect(text).not.toContain("pre-staged");
  });
});

describe("the summary's expected times (an ALB target group the preflight read)", () => {
  const settings = "deregistration delay 30 s; health checks every 5 s; target type instance";
  const withExpected = (): Summary => ({
    ...summaryOf(false),
    preflight: ran(0, 1, {
      versionsBefore: { "node-1": "27.1.1", "node-2": "27.1.1" },
      loadBalancerSettings: settings,
      expectedDrainSeconds: 30,
      expectedAdmitSeconds: 22,
    }),
    "node-1/admit": ran(24, 25, { admitSeconds: 1 }),
    "node-2/admit": ran(33, 34.5, { admitSeconds: 7.5 }),
  });

  it("shows each node's admit beside the most its drain and admit may take, and the settings read", () => {
    expect(nodeSummaries(withExpected())[1]).toMatchObject({
      node: "node-2",
      drainSeconds: 2,
      admitSeconds: 7.5,
      expectedDrainSeconds: 30,
      expectedAdmitSeconds: 22,
    });
    expect(fromNodesTable(renderSummary(withExpected())).slice(0, 5)).toEqual([
      "Nodes:",
      "  node            drain  out of rotation    admit expected drain expected admit  release before -> after",
      "  node-1          0.5 s           10.0 s    1.0 s        <= 30 s        <= 22 s  27.1.1 -> 28.2.0",
      "  node-2          2.0 s            8.5 s    7.5 s        <= 30 s        <= 22 s  27.1.1 -> 28.2.0",
      `  (expected: the most the load balancer's settings let a drain and an admit take, as the preflight read them: ${settings})`,
    ]);
  });

  it("a provisioned NEW NODE (no drain) expects no drain", () => {
    const { "node-1/drain": _drain, ...rest } = withExpected();
    expect(nodeSummaries(rest)[0]).toMatchObject({ node: "node-1", expectedAdmitSeconds: 22 });
    expect(nodeSummaries(rest)[0].expectedDrainSeconds).toBeUndefined();
  });
});
