/**
 * Plain `pulumi up` from the TypeScript sources runs the typed steps from dist/: the program refuses
 * a dist/steps built from other sources (a step edited after the last build would run its old code),
 * and says what to run. From dist/ itself (the driver) there is nothing to compare.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkStepsBuild,
  StaleBuildError,
  STEPS_STAMP,
  stepsEntry,
  stepsSourceDigest,
} from "../../resources/stepsEntry";

const roots: string[] = [];
function project(): string {
  const root = mkdtempSync(path.join(tmpdir(), "gru-steps-build-"));
  roots.push(root);
  mkdirSync(path.join(root, "steps", "lb"), { recursive: true });
  writeFileSync(path.join(root, "steps", "execute.ts"), "export const a = 1;\n");
  writeFileSync(path.join(root, "steps", "lb", "haproxy.ts"), "export const b = 2;\n");
  mkdirSync(path.join(root, "dist", "steps"), { recursive: true });
  writeFileSync(path.join(root, "dist", "steps", "execute.js"), "exports.a = 1;\n");
  return root;
}
const stamp = (root: string) =>
  writeFileSync(path.join(root, "dist", "steps", STEPS_STAMP), `${stepsSourceDigest(root)}\n`);

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe("the typed steps' build, checked against the sources", () => {
  it("accepts a build stamped from the sources at hand", () => {
    const root = project();
    stamp(root);
    expect(() => checkStepsBuild(root)).not.toThrow();
    expect(stepsEntry(root)).toBe(path.join(root, "dist", "steps", "execute.js"));
  });

  it("refuses once a step source changed after the build, saying to run npm run build", () => {
    const root = project();
    stamp(root);
    writeFileSync(path.join(root, "steps", "lb", "haproxy.ts"), "export const b = 3;\n");
    expect(() => checkStepsBuild(root)).toThrow(StaleBuildError);
    expect(() => checkStepsBuild(root)).toThrow(/built from other sources .* run `npm run build` first/);
  });

  it("refuses a new step file too, and a build without its stamp", () => {
    const root = project();
    stamp(root);
    writeFileSync(path.join(root, "steps", "new.ts"), "export {};\n");
    expect(() => checkStepsBuild(root)).toThrow(StaleBuildError);
    rmSync(path.join(root, "dist", "steps", STEPS_STAMP));
    expect(() => checkStepsBuild(root)).toThrow(/the typed steps are not built/);
  });

  it("checks nothing when running from dist/ (the compiled steps are beside the program)", () => {
    const dist = path.join(project(), "dist");
    expect(() => checkStepsBuild(dist)).not.toThrow();
    expect(stepsEntry(dist)).toBe(path.join(dist, "steps", "execute.js"));
  });

  it("the repository's own build is stamped from its sources (npm run build ran before the unit suite)", () => {
    expect(() => checkStepsBuild(path.resolve(__dirname, "..", ".."))).not.toThrow();
  });
});
