/**
 * A second HAProxy in front of a lab's nodes, as the standby (or second active) of a pair: the same
 * backend and servers, its own dir, frontend and runtime API. The lab's own HAProxy is untouched.
 */
import * as path from "node:path";
import { HAPROXY_BACKEND, LabState } from "../../lab/lab";
import { RunningHaproxy, startHaproxy } from "../../lab/services/haproxy";
import { LAB_IDENTITY_HEADERS } from "../../lab/state";

/** Starts HAProxy "b" for `lab` in `<lab dir>/haproxy-b`, health-checking the nodes as the lab's does. */
export function startSecondHaproxy(lab: LabState, name = "haproxy-b"): Promise<RunningHaproxy> {
  return startHaproxy({
    dir: path.join(lab.dir, name),
    backends: lab.nodes.map((node) => ({ name: node.name, address: node.address })),
    backendName: HAPROXY_BACKEND,
    healthPath: "/healthcheck",
    checkIntervalMs: 1000,
    // The lab's Glance takes its identity from these headers, which the lab's own HAProxy sets too.
    requestHeaders: LAB_IDENTITY_HEADERS,
  });
}
