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
    const broken = readFileSync(path.join(WORKFLOWS, "preview.yml"), "utf8")
      .replace("policyPacks: policy", "policyPack: policy")
      .replace("stack-name: ${{ matrix.stack }}", "stack-name: ${{ matrix.stak }}");
    const file = path.join(scratch, "broken.yml");
    writeFileSync(file, broken);
    const result = actionlint([file]);
    expect(result.status).toBe(1);
    expect(result.output).toContain('input "policyPack" is not defined in action "pulumi/actions@v6"');
    expect(result.output).toContain('property "stak" is not defined');
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

  it("deploy: the driver's up on manual dispatch, on a runner inside the network, behind the environment's approval gate", () => {
    const deploy = load("deploy.yml");
    const input = at(deploy, "on", "workflow_dispatch", "inputs", "environment");
    expect(input).toMatchObject({ type: "choice", required: true, options: ["staging", "prod"] });
    expect(at(deploy, "jobs", "up", "environment")).toBe("${{ inputs.environment }}");
    // A GitHub-hosted runner cannot reach the fleet's private addresses.
    expect(at(deploy, "jobs", "up", "runs-on")).toEqual(["self-hosted", "glance-upgrade"]);
    const runs = steps(deploy, "up");
    const up = runs.find((s) => s.run?.includes("dist/driver/cli.js up"));
    expect(up?.run).toBe('node dist/driver/cli.js up --stack "$STACK"');
    expect(up?.env).toMatchObject({
      PULUMI_BACKEND_URL: "${{ secrets.PULUMI_BACKEND_URL }}",
      STACK: "${{ inputs.environment }}",
    });
    // The CLI is installed, not run: the driver runs it.
    expect(pulumiStep(deploy, "up")?.with?.command).toBeUndefined();
    // An update without per-step checkpoints could not resume a killed run without repeating steps.
    expect(readFileSync(path.join(WORKFLOWS, "deploy.yml"), "utf8")).not.toContain("PULUMI_SKIP_CHECKPOINTS");
  });

  it("deploy: writes the fleet's host keys from a secret exactly where each example stack's ssh.knownHostsFile points", () => {
    const deploy = load("deploy.yml");
    const hostKeys = steps(deploy, "up").find((s) => s.env?.KNOWN_HOSTS !== undefined);
    expect(hostKeys?.env?.KNOWN_HOSTS).toBe("${{ secrets.GLANCE_KNOWN_HOSTS }}");
    expect(hostKeys?.run).toContain('> "/etc/glance-rolling-upgrade/known_hosts.$STACK"');
    for (const stack of ["staging", "prod"]) {
      const file = parse(readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as Yaml;
      expect(at(file, "config", "glance-rolling-upgrade:ssh", "knownHostsFile")).toBe(
        `/etc/glance-rolling-upgrade/known_hosts.${stack}`,
      );
    }
  });

  it("the unit suite the workflows run needs nothing they do not install (the actionlint check is an integration test)", () => {
    expect(readdirSync(path.join(ROOT, "test", "unit")).filter((f) => /workflow/i.test(f))).toEqual([]);
    const unitSources = readdirSync(path.join(ROOT, "test", "unit"))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(path.join(ROOT, "test", "unit", f), "utf8"));
    expect(unitSources.some((text) => text.includes("actionlint"))).toBe(false);
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
