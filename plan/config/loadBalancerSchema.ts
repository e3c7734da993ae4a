import { z } from "zod";
import { eachOnce, hostOrIp, port, positiveSeconds, posixUser, url } from "./fields";

const runtimeAddress = z
  .string()
  .regex(/^unix:\/[A-Za-z0-9._/-]+$|^[A-Za-z0-9.-]+:\d{1,5}$/, "use unix:/path/to/admin.sock or HOST:PORT");

/**
 * A runtime API on another host, reached by OpenSSH forwarding its unix socket: the admin socket is
 * never opened to the network. The stack's ssh settings (host-key policy, known_hosts) and the
 * sshPrivateKey secret apply.
 */
export const runtimeApiOverSshSchema = z.strictObject({
  ssh: z.strictObject({ host: hostOrIp, user: posixUser, port: port.optional() }),
  socket: z
    .string()
    .regex(
      /^\/[A-Za-z0-9._/-]+$/,
      "use the absolute path of HAProxy's admin socket on that host, e.g. /run/haproxy/admin.sock",
    ),
});

const runtimeApiEntry = z.union([runtimeAddress, runtimeApiOverSshSchema]);

/** What every HAProxy runtime API entry may be, for messages. */
export const RUNTIME_API_FORMS =
  "use unix:/path/to/admin.sock or HOST:PORT, or a list of those and {ssh: {host, user, port?}, socket: /path/to/admin.sock}";

const backendName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "use the HAProxy backend's name (letters, digits, '_', '.', '-')");

const rolloutFields = {
  drainTimeoutSeconds: positiveSeconds(3600).default(300),
  /**
   * After the HTTP drain: how long to wait for the image imports in flight (they run in glance-api,
   * where the load balancer cannot see them); 0 turns the wait off.
   */
  importDrainTimeoutSeconds: z.number().min(0).max(86400).default(1800),
  onImportTimeout: z.enum(["halt", "proceed"]).default("halt"),
  healthTimeoutSeconds: positiveSeconds(3600).default(120),
  maxUnavailable: z.number().int().min(1).default(1),
  minHealthy: z.number().int().min(0).default(1),
};

export const loadBalancerSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("alb"),
    targetGroupArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]+\/[0-9a-f]+$/,
        "use a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)",
      ),
    port: port.default(9292),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "use an AWS region such as eu-west-1")
      .optional(),
    endpoint: url.optional(),
    ...rolloutFields,
  }),
  z.strictObject({
    type: z.literal("haproxy"),
    /** One instance's runtime API, or every instance's (an active/standby pair or more). */
    runtimeApi: z.union([
      runtimeAddress,
      z.array(runtimeApiEntry).min(1, "list at least one runtime API (one per HAProxy instance)"),
    ]),
    /**
     * The backend holding the Glance servers, or every one that does (kolla-ansible has
     * `glance_api_back` and `glance_api_external_back`): a node left in one takes requests through it.
     */
    backend: z.union([
      backendName,
      z
        .array(backendName)
        .min(1, "list at least one backend (each HAProxy backend that holds the Glance servers)")
        .superRefine(eachOnce("loadBalancer.backend", "backend")),
    ]),
    ...rolloutFields,
  }),
]);
