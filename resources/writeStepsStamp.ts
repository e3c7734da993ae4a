/** Run by `npm run build` after tsc: records which sources dist/steps was compiled from. */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { STEPS_STAMP, stepsSourceDigest } from "./stepsEntry";

const root = path.resolve(__dirname, "..", "..");
writeFileSync(path.join(root, "dist", "steps", STEPS_STAMP), `${stepsSourceDigest(root)}\n`);
