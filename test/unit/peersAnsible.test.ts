/**
 * The peers bench's Ansible side without Ansible: the timings read from the ansible.posix.json
 * callback's document, and the inventory written for a lab (groups, the lab's node commands, the
 * HAProxy socket without its `unix:` prefix).
 */
import { describe, expect, it } from "vitest";
import { inventoryFor, InventoryLab } from "../../bench/peers/ansible";
import { callbackDocument, parseCallbackTime, taskOf, taskTimings } from "../../bench/peers/ansibleTimings";
import { inventoryLab } from "./support/peers";

const DOC = {
  plays: [
    {
      play: { name: "Upgrade the NEW NODE" },
      tasks: [
        {
          task: {
            name: "Drain",
            duration: { start: "2026-11-26T16:30:00.100000Z", end: "2026-11-26T16:30:03.600123Z" },
          },
          hosts: { "node-1": { changed: true } },
        },
        {
          task: {
            name: "Stop Glance",
            duration: { start: "2026-11-26T16:30:04.000000Z", end: "2026-11-26T16:30:05.000000Z" },
          },
          hosts: { "node-1": { failed: true } },
        },
        { task: { name: "never ended", duration: { start: "2026-11-26T16:30:05.000000Z" } }, hosts: {} },
      ],
    },
  ],
  stats: {},
};

describe("ansible.posix.json timings", () => {
  it("reads the callback's microsecond UTC times as epoch milliseconds", () => {
    expect(parseCallbackTime("2026-11-26T16:30:00.100999Z")).toBe(Date.parse("2026-11-26T16:30:00.100Z"));
    expect(() => parseCallbackTime("yesterday")).toThrow(/not a time/);
  });

  it("gives one timing per task and host, with its outcome, skipping tasks that never ended", () => {
    const timings = taskTimings(`[WARNING]: something first\n${JSON.stringify(DOC, null, 4)}\n`);
    expect(timings).toHaveLength(2);
    expect(timings[0]).toMatchObject({
      play: "Upgrade the NEW NODE",
      task: "Drain",
      host: "node-1",
      ms: 3_500,
      failed: false,
    });
    expect(timings[1]).toMatchObject({ task: "Stop Glance", failed: true, ms: 1_000 });
    expect(taskOf(timings, "Drain", "node-1")?.startedAt).toBe(Date.parse("2026-11-26T16:30:00.100Z"));
    expect(taskOf(timings, "Drain", "node-2")).toBeUndefined();
  });

  it("says so when the output holds no callback document", () => {
    expect(() => callbackDocument("ERROR! the playbook could not be parsed")).toThrow(/no JSON document/);
  });
});

describe("inventoryFor", () => {
  const lab: InventoryLab = inventoryLab(3);

  it("puts the first node in glance_new and the others, in order, in glance_rest", () => {
    const inventory = inventoryFor(lab) as {
      all: { children: Record<string, { hosts: Record<string, unknown> }> };
    };
    expect(Object.keys(inventory.all.children.glance_new.hosts)).toEqual(["node-1"]);
    expect(Object.keys(inventory.all.children.glance_rest.hosts)).toEqual(["node-2", "node-3"]);
    expect(inventory.all.children.glance_rest.hosts["node-3"]).toEqual({
      haproxy_server: "node-3",
      health_url: "http://127.0.0.1:19303/healthcheck",
    });
  });

  it("gives the playbook the lab's node command, socket path, target and database", () => {
    const vars = (inventoryFor(lab) as { all: { vars: Record<string, unknown> } }).all.vars;
    expect(vars).toMatchObject({
      ansible_connection: "local",
      lab_dir: "/tmp/lab",
      glance_node: "/tmp/lab/bin/glance-node",
      haproxy_socket: "/tmp/lab/haproxy/admin.sock",
      haproxy_backend: "glance",
      target_release: "2024.1",
      target_version: "28.2.0",
      db_port: 13306,
      backup_path: "/tmp/lab/backups/glance-before-2024.1.sql",
    });
  });
});
