import { upgradeProgram } from "./components/program";

// A plain Pulumi program: `pulumi preview --diff` and `pulumi up` run it with any standard install.
const outputs = upgradeProgram();

export const targetRelease = outputs.targetRelease;
export const plan = outputs.plan;
export const runbook = outputs.runbook;
export const summary = outputs.summary;
