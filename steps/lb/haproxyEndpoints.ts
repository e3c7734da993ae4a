/**
 * Where the HAProxy instances of one load balancer answer: a runtime API address this process can
 * reach, or a unix socket on another host reached through an OpenSSH forward for one step's duration.
 */
import { StepContext, StepError } from "../context";
import { RuntimeEndpoint, runtimeEndpointLabel } from "./haproxy/endpoint";
import { openSocketForward, SocketForward } from "./sshSocketForward";

export { runtimeEndpointLabel, type RuntimeEndpoint, type SshForwardTarget } from "./haproxy/endpoint";

/** One HAProxy instance while a step talks to it. */
export interface HaproxyInstance {
  /** How messages name it: its address, or `ssh://user@host:port/path/to/admin.sock`. */
  label: string;
  /** What the runtime API client connects to (a private forwarded socket for a remote one). */
  api: string;
  /** For a forwarded instance: what the ssh client says went wrong, if anything. */
  explainFailure(): string | undefined;
  /** For a forwarded instance: the socket on the far host and the ssh user that opens it. */
  remote?: { socket: string; user: string };
}

/**
 * Opens every instance (forwards for the remote ones), runs `use`, and closes the forwards whatever
 * happens. A forward that cannot be opened fails the step before anything is changed.
 */
export async function withHaproxyInstances<T>(
  endpoints: RuntimeEndpoint[],
  sshPrivateKey: string | undefined,
  ctx: StepContext,
  use: (instances: HaproxyInstance[]) => Promise<T>,
): Promise<T> {
  if (endpoints.length === 0) throw new StepError("no HAProxy runtime API is configured");
  const forwards: SocketForward[] = [];
  try {
    const opened = await Promise.allSettled(
      endpoints.map(async (endpoint): Promise<HaproxyInstance> => {
        const label = runtimeEndpointLabel(endpoint);
        if (typeof endpoint === "string") return { label, api: endpoint, explainFailure: () => undefined };
        const forward = await openSocketForward(
          { ...endpoint.ssh, privateKey: sshPrivateKey },
          endpoint.socket,
          ctx,
        );
        forwards.push(forward);
        return {
          label,
          api: forward.localApi,
          explainFailure: () => forward.explainFailure(),
          remote: { socket: endpoint.socket, user: endpoint.ssh.user },
        };
      }),
    );
    const failed = opened.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
    if (failed.length > 0) {
      const messages = failed.map((e) => (e instanceof Error ? e.message : String(e)));
      throw new StepError(`${messages.join("; ")}; nothing was changed`);
    }
    return await use(opened.map((o) => (o as PromiseFulfilledResult<HaproxyInstance>).value));
  } finally {
    await Promise.all(forwards.map((forward) => forward.close()));
  }
}
