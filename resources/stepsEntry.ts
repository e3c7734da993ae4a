import { existsSync } from "node:fs";
import * as path from "node:path";

/**
 * The compiled `steps/execute.js` beside this module when running from dist/, or the project's
 * dist/ when the program runs from TypeScript sources (plain `pulumi up` after `npm run build`).
 */
export function stepsEntry(codeRoot: string): string {
  const compiledBeside = path.join(codeRoot, "steps", "execute.js");
  if (existsSync(compiledBeside)) return compiledBeside;
  return path.join(codeRoot, "dist", "steps", "execute.js");
}
