/** A wave: nodes out of rotation together. Wave 0 is the NEW NODE alone; waves 1.. follow it. */
export interface Wave {
  index: number;
  nodes: string[];
}

/** Splits the nodes after the NEW NODE into waves of at most `maxUnavailable`, in config order. */
export function wavesAfterNewNode(nodeNames: string[], newNode: string, maxUnavailable: number): string[][] {
  const rest = nodeNames.filter((name) => name !== newNode);
  const waves: string[][] = [];
  for (let i = 0; i < rest.length; i += maxUnavailable) waves.push(rest.slice(i, i + maxUnavailable));
  return waves;
}

/** Every wave of the fleet, the NEW NODE's first. */
export function fleetWaves(nodeNames: string[], newNode: string, maxUnavailable: number): Wave[] {
  return [
    { index: 0, nodes: [newNode] },
    ...wavesAfterNewNode(nodeNames, newNode, maxUnavailable).map((nodes, i) => ({ index: i + 1, nodes })),
  ];
}

/**
 * How many waves follow the NEW NODE's in a fleet of `fleetSize` nodes (the NEW NODE included): the
 * highest wave a `pauseAfter` checkpoint can name.
 */
export function wavesAfterNewNodeCount(fleetSize: number, maxUnavailable: number): number {
  const names = Array.from({ length: fleetSize }, (_, i) => String(i));
  return wavesAfterNewNode(names, names[0], maxUnavailable).length;
}
