import type {
  EngineEvent,
  OutputMap,
  Stack,
  SummaryEvent,
  UpOptions,
  UpResult,
  UpdateSummary,
} from "@pulumi/pulumi/automation";

/** The engine's display of a secret it was not asked to show. */
const MASKED_SECRET = "[secret]";

/**
 * What `Stack.up`'s result holds, read from the engine's own event stream: the root stack resource's
 * outputs (its last `resOutputsEvent`) and the update's `summaryEvent`.
 */
export class UpReadBack {
  private stackOutputs?: Record<string, unknown>;
  private summary?: SummaryEvent;
  private firstEventAt?: number;
  private lastEventAt?: number;

  observe(event: EngineEvent): void {
    // The engine stamps events in whole seconds since the epoch.
    this.firstEventAt ??= event.timestamp;
    this.lastEventAt = event.timestamp;
    const step = event.resOutputsEvent?.metadata;
    if (
      step?.type === "pulumi:pulumi:Stack" &&
      step.new &&
      !step.new.parent &&
      !event.resOutputsEvent?.planning
    ) {
      this.stackOutputs = step.new.outputs ?? {};
    }
    if (event.summaryEvent) this.summary = event.summaryEvent;
  }

  /**
   * The stack outputs as `Stack.outputs()` gives them; undefined when the stream carried none. A
   * secret output is masked in the stream, so it is marked secret and its value left masked.
   */
  outputs(): OutputMap | undefined {
    if (this.stackOutputs === undefined) return undefined;
    return Object.fromEntries(
      Object.entries(this.stackOutputs).map(([key, value]) => [
        key,
        { value, secret: value === MASKED_SECRET },
      ]),
    );
  }

  /**
   * The update's summary, undefined without a summary event. Only what the stream knows is filled:
   * kind, result (`up` resolved, so it succeeded), resource changes and the times; the history's
   * message, environment, config and version are left empty.
   */
  updateSummary(): UpdateSummary | undefined {
    if (this.summary === undefined) return undefined;
    return {
      kind: "update",
      result: "succeeded",
      resourceChanges: this.summary.resourceChanges,
      startTime: new Date((this.firstEventAt ?? 0) * 1000),
      endTime: new Date((this.lastEventAt ?? 0) * 1000),
      message: "",
      environment: {},
      config: {},
      version: 0,
    };
  }
}

/**
 * `stack.up(opts)` without the three CLI processes the Automation API runs after the engine to
 * build its result (`stack output` twice, once decrypting the stack's secrets, and `stack history`;
 * ~0.5 s on a quiet machine, over 1 s on a busy one; pulumi/pulumi#6253): the outputs and the summary
 * are read from the engine's event stream instead.
 *
 * Stack.up has no option to skip them, and builds its result with `this.outputs()` and
 * `this.info()`, both public methods. So it runs here on a view of the stack (`Object.create`: same
 * workspace, name and engine invocation, args, replace list, errors such as ConcurrentUpdateError)
 * whose two methods answer from the events. Should the stream lack either part, or a later SDK build
 * its result another way, the stack's own methods answer, as before: slower, never wrong.
 */
export async function upReadingEvents(stack: Stack, opts: UpOptions = {}): Promise<UpResult> {
  const readBack = new UpReadBack();
  const view = Object.create(stack) as Stack;
  view.outputs = async () => readBack.outputs() ?? stack.outputs();
  view.info = async (showSecrets?: boolean) => readBack.updateSummary() ?? stack.info(showSecrets);
  return stack.up.call(view, {
    ...opts,
    onEvent: (event: EngineEvent) => {
      readBack.observe(event);
      opts.onEvent?.(event);
    },
  });
}
