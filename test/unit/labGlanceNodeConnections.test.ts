/**
 * `glance-node <lab> connections <node>`, the lab ALB stack's connectionsCommand: the established
 * connections on the node's own port (its config's bind_port), one a line, on a fake lab directory
 * and a real socket.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { PROJECT_ROOT } from "../../driver/environment";

const GLANCE_NODE = path.join(PROJECT_ROOT, "lab", "bin", "glance-node");

it("lists a held connection to the node's port, and none once it is closed", async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gru-conns-"));
  fs.mkdirSync(path.join(dir, "nodes", "node-2", "2024.1"), { recursive: true });
  fs.writeFileSync(path.join(dir, "nodes", "node-2", "release"), "2024.1\n");
  fs.writeFileSync(
    path.join(dir, "nodes", "node-2", "2024.1", "glance-api.conf"),
    `[DEFAULT]\nbind_port = ${port}\n`,
  );
  const connections = async () =>
    (await promisify(execFile)(GLANCE_NODE, [dir, "connections", "node-2"])).stdout
      .split("\n")
      .filter((line) => line.trim() !== "");
  const accepted: net.Socket[] = [];
  server.on("connection", (socket) => accepted.push(socket));
  try {
    expect(await connections()).toEqual([]);
    const client = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => client.once("connect", resolve));
    const held = await connections();
    expect(held).toHaveLength(1);
    expect(held[0]).toContain(`127.0.0.1:${port}`);
    client.destroy();
    accepted.forEach((socket) => socket.destroy());
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await connections()).toEqual([]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
