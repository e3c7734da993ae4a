/**
 * CloudWatch alarms watched during a bake, as CodeDeploy and ASG instance refresh do: any named alarm
 * in ALARM stops the rollout. INSUFFICIENT_DATA counts as OK (an alarm on a quiet metric sits there).
 */
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { StepContext, StepError } from "../context";
import { AwsTarget, cloudWatchClient, describeAwsError } from "./clients";

export interface AlarmState {
  name: string;
  /** OK, ALARM or INSUFFICIENT_DATA. */
  state: string;
  reason: string;
  since?: Date;
}

export interface AlarmWatch {
  /**
   * The first alarm in ALARM, or undefined. Reads CloudWatch at most once per interval unless
   * `force` (the last look at the end of the window); logs a line whenever an alarm changes state.
   */
  check(force?: boolean): Promise<AlarmState | undefined>;
  close(): void;
}

/** DescribeAlarms is limited to a few calls per second per account: one read a second per bake. */
const DEFAULT_INTERVAL_MS = 1_000;

function describeState(alarm: AlarmState): string {
  return alarm.state === "INSUFFICIENT_DATA" ? "INSUFFICIENT_DATA (counted as OK)" : alarm.state;
}

async function readAlarms(client: CloudWatchClient, names: string[]): Promise<AlarmState[]> {
  let out;
  try {
    out = await client.send(
      new DescribeAlarmsCommand({
        AlarmNames: names,
        // Without AlarmTypes, CloudWatch leaves composite alarms out of the answer.
        AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
        MaxRecords: 100,
      }),
    );
  } catch (error) {
    throw new StepError(
      `reading CloudWatch alarms ${names.join(", ")} failed: ${describeAwsError(error)}. ` +
        `Check AWS credentials (cloudwatch:DescribeAlarms), region and endpoint`,
    );
  }
  return [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])].map((alarm) => ({
    name: alarm.AlarmName ?? "?",
    state: alarm.StateValue ?? "unknown",
    reason: alarm.StateReason ?? "no reason given",
    since: alarm.StateUpdatedTimestamp,
  }));
}

/**
 * Reads the alarms once and starts watching them. Throws a StepError, having changed nothing, when
 * CloudWatch cannot be read or does not know one of the names (a config error found at run time).
 */
export async function openAlarmWatch(
  target: AwsTarget & { alarmNames: string[]; intervalMs?: number },
  ctx: StepContext,
): Promise<AlarmWatch> {
  const names = target.alarmNames;
  const interval = target.intervalMs ?? DEFAULT_INTERVAL_MS;
  const client = cloudWatchClient(target);
  const states = new Map<string, string>();
  let lastRead = 0;

  const record = (alarms: AlarmState[]): AlarmState | undefined => {
    for (const alarm of alarms) {
      const before = states.get(alarm.name);
      if (before !== undefined && before !== alarm.state) {
        ctx.log(`CloudWatch alarm ${alarm.name}: ${before} -> ${describeState(alarm)} (${alarm.reason})`);
      }
      states.set(alarm.name, alarm.state);
    }
    return alarms.find((alarm) => alarm.state === "ALARM");
  };

  try {
    const first = await readAlarms(client, names);
    const missing = names.filter((name) => !first.some((alarm) => alarm.name === name));
    if (missing.length > 0) {
      const region = target.region ?? (await client.config.region().catch(() => "the default region"));
      throw new StepError(
        `CloudWatch has no alarm named ${missing.map((name) => `"${name}"`).join(", ")} in ${region} ` +
          `(alarm names are case-sensitive): fix bake.alarmNames or create the alarm`,
      );
    }
    lastRead = Date.now();
    ctx.log(
      `watching CloudWatch alarms: ${first.map((alarm) => `${alarm.name} ${describeState(alarm)}`).join(", ")}`,
    );
    record(first);
    // The first check reports what was read here, so an alarm already in ALARM stops the bake at once.
    let unchecked: AlarmState[] | undefined = first;
    return {
      async check(force = false) {
        if (unchecked) {
          const alarms = unchecked;
          unchecked = undefined;
          return alarms.find((alarm) => alarm.state === "ALARM");
        }
        if (!force && Date.now() - lastRead < interval) return undefined;
        lastRead = Date.now();
        return record(await readAlarms(client, names));
      },
      close: () => client.destroy(),
    };
  } catch (error) {
    client.destroy();
    throw error;
  }
}
