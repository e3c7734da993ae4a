import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "../..");
const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const SETUP = "scripts/setup-actionlint.sh";

/** Where scripts/setup-actionlint.sh puts the binary, for the version it pins. */
function actionlintPath(): string {
  const script = readFileSync(path.join(ROOT, SETUP), "utf8");
  const version = /ACTIONLINT_VERSION="\$\{ACTIONLINT_VERSION:-([0-9.]+)\}"/.exec(script)?.[1];
  if (!version) throw new Error(`${SETUP} no longer pins ACTIONLINT_VERSION the way this test reads it`);
  const cache =
    process.env.GRU_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "glance-rolling-upgrade");
  return path.join(cache, `actionlint-${process.env.ACTIONLINT_VERSION ?? version}`, "actionlint");
}

function actionlint(files: string[]): { status: number | null; output: string } {
  const binary = actionlintPath();
  if (!existsSync(binary)) {
    throw new Error(`actionlint is not installed at ${binary}. Run: bash ${SETUP}`);
  }
  // shellcheck and pyflakes are used only when found on PATH; off, so every machine lints alike.
  const run = spawnSync(binary, ["-oneline", "-no-color", "-shellcheck=", "-pyflakes=", ...files], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (run.error) throw run.error;
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

const workflowFiles = () =>
  readdirSync(WORKFLOWS)
    .filter((f) => f.endsWith(".yml"))
    .map((f) => path.join(".github", "workflows", f));

type Yaml = Record<string, unknown>;
const load = (name: string): Yaml => parse(readFileSync(path.join(WORKFLOWS, name), "utf8")) as Yaml;
const at = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v as Yaml | undefined)?.[k], value);
type Step = { uses?: string; with?: Yaml; env?: Yaml; run?: string };
const steps = (workflow: Yaml, job: string) => at(workflow, "jobs", job, "steps") as Step[];
const pulumiStep = (workflow: Yaml, job: string) =>
  steps(workflow, job).find((s) => s.uses?.startsWith("pulumi/actions@"));

describe("GitHub Actions workflows", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), "gru-actionlint-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("actionlint finds nothing in .github/workflows/*.yml", () => {
    const files = workflowFiles();
    expect(files.map((f) => path.basename(f)).sort()).toEqual(["deploy.yml", "preview.yml"]);
    const result = actionlint(files);
    expect(result.output, "actionlint findings").toBe("");
    expect(result.status).toBe(0);
  });

  it("actionlint does report a broken workflow (the check above can fail)", () => {
    const broken = readFileSync(path.join(WORKFLOWS, "deploy.yml"), "utf8")
      .replace("policyPacks: policy", "policyPack: policy")
      .replace("stack-name: ${{ inputs.environment }}", "stack-name: ${{ inputs.enviroment }}");
    const file = path.join(scratch, "broken.yml");
    writeFileSync(file, broken);
    const result = actionlint([file]);
    expect(result.status).toBe(1);
    expect(result.output).toContain('input "policyPack" is not defined in action "pulumi/actions@v6"');
    expect(result.output).toContain('property "enviroment" is not defined');
  });

  it("preview: on a PR touching the stacks or the program, tests then `pulumi preview --diff` per stack, posted on the PR", () => {
    const preview = load("preview.yml");
    const paths = at(preview, "on", "pull_request", "paths") as string[];
    for (const p of [
      "Pulumi.*.yaml",
      "index.ts",
      "components/**",
      "steps/**",
      "resources/**",
      "package.json",
    ])
      expect(paths).toContain(p);
    const testRuns = steps(preview, "test").map((s) => s.run);
    expect(testRuns).toEqual(expect.arrayContaining(["npm run build", "npm run test:unit"]));
    expect(at(preview, "jobs", "preview", "needs")).toBe("test");
    expect(at(preview, "jobs", "preview", "strategy", "matrix", "stack")).toEqual(["staging", "prod"]);
    const step = pulumiStep(preview, "preview");
    expect(step?.uses).toBe("pulumi/actions@v6");
    expect(step?.with).toMatchObject({
      command: "preview",
      "stack-name": "${{ matrix.stack }}",
      diff: true,
      "comment-on-pr": true,
      policyPacks: "policy",
    });
    expect(step?.env?.PULUMI_BACKEND_URL).toBe("${{ secrets.PULUMI_BACKEND_URL }}");
    expect(at(preview, "jobs", "preview", "permissions", "id-token")).toBe("write");
    // A preview writes no state, so it may skip the engine's per-step snapshot work.
    expect(step?.env?.PULUMI_SKIP_CHECKPOINTS).toBe("true");
  });

  it("deploy: `pulumi up` on manual dispatch for staging or prod, behind the environment's approval gate", () => {
    const deploy = load("deploy.yml");
    const input = at(deploy, "on", "workflow_dispatch", "inputs", "environment");
    expect(input).toMatchObject({ type: "choice", required: true, options: ["staging", "prod"] });
    expect(at(deploy, "jobs", "up", "environment")).toBe("${{ inputs.environment }}");
    const step = pulumiStep(deploy, "up");
    expect(step?.with).toMatchObject({
      command: "up",
      "stack-name": "${{ inputs.environment }}",
      policyPacks: "policy",
    });
    expect(step?.env?.PULUMI_BACKEND_URL).toBe("${{ secrets.PULUMI_BACKEND_URL }}");
    // An update without per-step checkpoints could not resume a killed run without repeating steps.
    expect(readFileSync(path.join(WORKFLOWS, "deploy.yml"), "utf8")).not.toContain("PULUMI_SKIP_CHECKPOINTS");
  });

  it("both take the same per-stack concurrency group and never cancel a running job", () => {
    const preview = at(load("preview.yml"), "jobs", "preview", "concurrency");
    const deploy = at(load("deploy.yml"), "jobs", "up", "concurrency");
    expect(preview).toEqual({ group: "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": false });
    expect(deploy).toEqual({ group: "pulumi-stack-${{ inputs.environment }}", "cancel-in-progress": false });
  });

  it("both pin the Pulumi CLI to the engine version scripts/setup-engine.sh uses", () => {
    const engine = /PULUMI_VERSION="\$\{PULUMI_VERSION:-([0-9.]+)\}"/.exec(
      readFileSync(path.join(ROOT, "scripts", "setup-engine.sh"), "utf8"),
    )?.[1];
    expect(engine).toBeDefined();
    for (const [file, job] of [
      ["preview.yml", "preview"],
      ["deploy.yml", "up"],
    ] as const) {
      const workflow = load(file);
      expect(at(workflow, "env", "PULUMI_VERSION"), file).toBe(engine);
      expect(pulumiStep(workflow, job)?.with?.["pulumi-version"], file).toBe("${{ env.PULUMI_VERSION }}");
    }
  });
});
