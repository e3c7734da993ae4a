import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { STEP_PROVIDER_SOURCE } from "../../resources/step";
import { stepsEntry } from "../../resources/stepsEntry";

/** Loads the provider text as the SDK's provider host does: a CommonJS module, then `exports.handler()`. */
function loadProvider(required: string[]): pulumi.dynamic.ResourceProvider {
  const calls =
    (method: string) =>
    async (...args: unknown[]) => ({ method, args });
  const fakeRequire = (id: string) => {
    required.push(id);
    return { stepProviderMethods: { diff: calls("diff"), create: calls("create"), update: calls("update") } };
  };
  const moduleExports: { handler?: () => pulumi.dynamic.ResourceProvider } = {};
  new Function("exports", "require", STEP_PROVIDER_SOURCE)(moduleExports, fakeRequire);
  if (!moduleExports.handler) throw new Error("the provider text sets no exports.handler");
  return moduleExports.handler();
}

describe("the steps' dynamic provider text", () => {
  it("delegates diff, create and update to the compiled steps module, loaded on first use", async () => {
    const required: string[] = [];
    const provider = loadProvider(required);
    expect(required).toEqual([]);
    const olds = { step: "node-1/drain" };
    const news = { step: "node-1/drain", release: "2024.1" };
    expect(await provider.diff!("node-1/drain", olds, news)).toEqual({
      method: "diff",
      args: ["node-1/drain", olds, news],
    });
    expect(await provider.create(news)).toEqual({ method: "create", args: [news] });
    expect(await provider.update!("node-1/drain", olds, news)).toEqual({
      method: "update",
      args: ["node-1/drain", olds, news],
    });
    expect(new Set(required)).toEqual(new Set([stepsEntry(path.resolve(__dirname, "..", ".."))]));
  });

  it("deletes nothing outside the state", async () => {
    const required: string[] = [];
    expect(await loadProvider(required).delete!("node-1/drain", {})).toBeUndefined();
    expect(required).toEqual([]);
  });

  it("names the steps module by an absolute path, so the provider host's working folder does not matter", () => {
    const entry = /^const entry = (".*");$/m.exec(STEP_PROVIDER_SOURCE)?.[1];
    expect(entry).toBeDefined();
    expect(path.isAbsolute(JSON.parse(entry!) as string)).toBe(true);
  });
});
