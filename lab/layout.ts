/** A lab's shape: its nodes, where each listens, and whether an existing lab has the shape asked for. */
import * as path from "node:path";
import { healthcheckDisableFile } from "./glance/config";
import type { LabNode, LabPorts, LabState } from "./state";

function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

/** The nodes of a lab at `dir`: node-1 on ports.firstNode, node-2 on the next port, and so on. */
export function labNodes(dir: string, count: number, ports: LabPorts): LabNode[] {
  return nodeNames(count).map((name, i) => {
    const port = ports.firstNode + i;
    const nodeDir = path.join(dir, "nodes", name);
    return {
      name,
      host: "127.0.0.1",
      port,
      address: `127.0.0.1:${port}`,
      healthUrl: `http://127.0.0.1:${port}/healthcheck`,
      dir: nodeDir,
      healthcheckDisableFile: healthcheckDisableFile(nodeDir),
      selfUrl: `http://127.0.0.1:${ports.firstNode + count + i}`,
    };
  });
}

export function shapeMismatch(
  state: LabState,
  nodes: number,
  fromRelease: string,
  ports: LabPorts,
): string | undefined {
  if (state.nodes.length !== nodes) return `${state.nodes.length} nodes, not ${nodes}`;
  if (state.fromRelease !== fromRelease) return `fleet release ${state.fromRelease}, not ${fromRelease}`;
  if (state.ports.mariadb !== ports.mariadb || state.ports.haproxyFrontend !== ports.haproxyFrontend)
    return "other ports";
  if (state.ports.firstNode !== ports.firstNode) return "other node ports";
  return undefined;
}
