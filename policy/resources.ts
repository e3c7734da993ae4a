import { RunbookResource } from "./rules";

/** What the mapping reads of a CrossGuard `PolicyResource` (a stack policy's `args.resources`). */
export interface StackResource {
  name: string;
  type: string;
  urn: string;
  dependencies: readonly StackResource[];
  propertyDependencies: Record<string, readonly StackResource[]>;
}

export interface RunbookView {
  resources: RunbookResource[];
  /** The URN to report a violation against, by runbook name. */
  urnOf(name: string): string | undefined;
}

/**
 * Maps the stack's resources to the rules' view: every ordering edge the engine knows, whether it came
 * from `dependsOn` or from an input that is another resource's output.
 */
export function toRunbookView(stack: readonly StackResource[]): RunbookView {
  const urns = new Map<string, string>();
  const resources = stack.map((resource) => {
    // A step and its component can share a name; the step (registered later) is the one to report.
    urns.set(resource.name, resource.urn);
    const deps = new Set(resource.dependencies.map((dep) => dep.name));
    for (const propertyDeps of Object.values(resource.propertyDependencies)) {
      for (const dep of propertyDeps) deps.add(dep.name);
    }
    return { name: resource.name, type: resource.type, dependsOn: [...deps] };
  });
  return { resources, urnOf: (name) => urns.get(name) };
}
