/** What the peers bench's unit tests build alike: a playbook task's timing and a lab for the inventory. */
import type { InventoryLab } from "../../../bench/peers/ansible";
import type { TaskTiming } from "../../../bench/peers/ansibleTimings";

/** A successful task run of `name` on `host` between the two times. */
export function task(name: string, host: string, startedAt: number, endedAt: number): TaskTiming {
  return {
    play: "p",
    task: name,
    host,
    startedAt,
    endedAt,
    ms: endedAt - startedAt,
    failed: false,
    skipped: false,
  };
}

/** A lab of `count` nodes behind the lab's HAProxy, as inventoryFor reads it. */
export function inventoryLab(count: number): InventoryLab {
  return {
    dir: "/tmp/lab",
    toRelease: "2024.1",
    glanceNodeBin: "/tmp/lab/bin/glance-node",
    ports: { mariadb: 13306, haproxyFrontend: 19292, haproxyRuntimeTcp: 19999, firstNode: 19301 },
    nodes: Array.from({ length: count }, (_, i) => ({
      name: `node-${i + 1}`,
      healthUrl: `http://127.0.0.1:${19301 + i}/healthcheck`,
    })),
    haproxy: { runtimeApi: "unix:/tmp/lab/haproxy/admin.sock", backendName: "glance" },
  };
}
