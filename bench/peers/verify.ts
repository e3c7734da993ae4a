/** After a peer's run: every node runs the target release and `glance-manage db check` exits 0. */
import { LabState, runGlanceNode } from "../../lab/lab";
import { releaseInfo } from "../../lab/releases";

export async function upgradeProblems(lab: LabState): Promise<string[]> {
  const problems: string[] = [];
  const version = releaseInfo(lab.toRelease).glanceVersion;
  for (const node of lab.nodes) {
    const release = await runGlanceNode(lab.dir, ["release", node.name]);
    const reported = await runGlanceNode(lab.dir, ["version", node.name]);
    if (release.stdout.trim() !== lab.toRelease || reported.stdout.trim() !== version)
      problems.push(
        `${node.name} runs release ${release.stdout.trim() || "?"} (glance ${reported.stdout.trim() || "?"}), ` +
          `not ${lab.toRelease} (${version})`,
      );
  }
  // With the new code (node-1 was upgraded first): 0 means expand, migrate and contract all ran.
  const check = await runGlanceNode(lab.dir, ["manage", lab.nodes[0].name, "db", "check"]);
  if (check.code !== 0)
    problems.push(
      `glance-manage db check exited ${check.code}, not 0: ${check.stdout.trim().split("\n").pop() ?? ""}`,
    );
  return problems;
}
