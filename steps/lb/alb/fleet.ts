import { StepContext, StepError } from "../../context";
import { AwsTarget, elbv2Client } from "../../aws/clients";
import { awsCall, describeGroup, healthText, viewOf } from "./targetGroup";

/**
 * The check before `db contract`: every registered target (draining ones included, they may still
 * serve) is one of `expectedTargetIds`, and each expected one is healthy. AWS lists a deregistered
 * target as `draining` in an unfiltered describe until the group's delay is over, even once it took
 * no more requests: an expected one that is `draining` counts as not healthy (the conservative side;
 * an admit waits out `draining` before registering, so an upgraded node is not left so).
 */
export async function albFleetCheck(
  args: AwsTarget & { targetGroupArn: string; expectedTargetIds: string[] },
  ctx: StepContext,
): Promise<{ targets: string[] }> {
  const tg = args.targetGroupArn;
  const client = elbv2Client(args);
  try {
    const group = await awsCall("DescribeTargetHealth", tg, "Nothing was changed", undefined, () =>
      describeGroup(client, tg),
    );
    const registered = group.filter((d) => viewOf(d).presence !== "absent");
    const targets = [...new Set(registered.map((d) => d.Target?.Id ?? "?"))].sort();
    const expected = new Set(args.expectedTargetIds);
    const unexpected = targets.filter((id) => !expected.has(id));
    const notHealthy = args.expectedTargetIds
      .map((id) => {
        const entries = registered.filter((d) => d.Target?.Id === id);
        if (entries.length === 0) return `${id}: not registered`;
        const bad = entries.filter((d) => d.TargetHealth?.State !== "healthy");
        return bad.length === 0 ? undefined : `${id}: ${bad.map(healthText).join(", ")}`;
      })
      .filter((line): line is string => line !== undefined);

    const problems = [
      ...(unexpected.length > 0 ? [`target(s) outside the upgraded set: ${unexpected.join(", ")}`] : []),
      ...(notHealthy.length > 0 ? [`upgraded target(s) not healthy: ${notHealthy.join("; ")}`] : []),
    ];
    if (problems.length > 0) {
      throw new StepError(
        `fleet check of ${tg} failed: ${problems.join("; ")}. Nothing was changed. ` +
          `Remove or upgrade the unexpected targets and make every upgraded one healthy before the contract step.`,
      );
    }
    ctx.log(`fleet check of ${tg}: ${targets.length} target(s), all upgraded and healthy`);
    return { targets };
  } finally {
    client.destroy();
  }
}
