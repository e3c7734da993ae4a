import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/** The program's typed steps would not run the code of the sources at hand. */
export class StaleBuildError extends Error {}

/** Written by `npm run build` beside the compiled steps: the digest of the sources they came from. */
export const STEPS_STAMP = "SOURCES.sha256";

/** A digest of every `steps/**.ts` source under `root` (paths and contents, in a stable order). */
export function stepsSourceDigest(root: string): string {
  const stepsDir = path.join(root, "steps");
  const files = readdirSync(stepsDir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))
    .sort();
  const hash = createHash("sha256");
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(readFileSync(path.join(stepsDir, file)))
      .update("\0");
  return hash.digest("hex");
}

/**
 * The compiled `steps/execute.js` beside this module when running from dist/, or the project's
 * dist/ when the program runs from TypeScript sources (plain `pulumi up` after `npm run build`).
 */
export function stepsEntry(codeRoot: string): string {
  const compiledBeside = path.join(codeRoot, "steps", "execute.js");
  if (existsSync(compiledBeside)) return compiledBeside;
  return path.join(codeRoot, "dist", "steps", "execute.js");
}

/**
 * Refuses a program run from TypeScript sources whose dist/steps came from other sources: a step
 * edited after the last build would otherwise run its old code against the fleet, with no warning.
 * Running from dist/ (the driver), the code is the build itself.
 */
export function checkStepsBuild(codeRoot: string): void {
  if (existsSync(path.join(codeRoot, "steps", "execute.js"))) return;
  const compiled = stepsEntry(codeRoot);
  const stamp = path.join(path.dirname(compiled), STEPS_STAMP);
  if (!existsSync(compiled) || !existsSync(stamp)) {
    throw new StaleBuildError(
      `the typed steps are not built (no ${compiled} with its ${STEPS_STAMP}): run \`npm run build\` first`,
    );
  }
  if (readFileSync(stamp, "utf8").trim() !== stepsSourceDigest(codeRoot)) {
    throw new StaleBuildError(
      `dist/steps was built from other sources than ${path.join(codeRoot, "steps")} (edited since the last build?): ` +
        "run `npm run build` first, or the typed steps would run their old code; nothing was changed",
    );
  }
}
