/**
 * A step kind that exists only in the tests (issue 31): after a node is back in rotation, it reads the
 * release the node runs once more. It is declared and registered here, in a test module, with no
 * production edit: the plan places it, the components build it, the policy pack checks its order and
 * the summary shows its result from its declaration alone (stepKindExtension.test.ts).
 */
import { registerNodeStepKind } from "../../../plan/stepKinds";

declare module "../../../plan/stepKinds" {
  interface StepKindExtensions {
    "fixture-probe": true;
  }
}

export const FIXTURE_PROBE = "fixture-probe" as const;

/** Registers the kind; returns what removes it again. */
export function registerFixtureProbe(): () => void {
  return registerNodeStepKind(FIXTURE_PROBE, {
    runs: { by: "script", readOnly: true },
    releaseChange: true,
    after: "admit",
    follows: ["admit"],
    describe: ({ config }) =>
      `probe: the node answers with release ${config.targetRelease} once back in rotation`,
    shown: ["stdout"],
    commands: (config) => [`echo "probed $GLANCE_NODE: $(${config.nodeCommands.versionCommand})"`],
  });
}
