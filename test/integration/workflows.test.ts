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

/** The GitHub environment a preview job must wait in before it may touch a stack's secrets. */
const PREVIEW_ENVIRONMENT = "preview-${{ matrix.stack }}";
/** Any secret but the token GitHub scopes to the run itself. */
const SECRET = /\$\{\{[^}]*\bsecrets\.(?!GITHUB_TOKEN\b)[A-Za-z_]+/;

/**
 * Where a workflow run on a PR can reach a secret or an OIDC token (so the AWS roles) outside the
 * preview environment's approval: the workflow-level env and permissions, and every job that is not
 * bound to that environment.
 */
/** The top-level folders of every module the program (index.ts) imports, transitively. */
function programFolders(): string[] {
  const seen = new Set<string>();
  const queue = [path.join(ROOT, "index.ts")];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/(?:from|require\()\s*"(\.{1,2}\/[^"]+)"/g)) {
      const base = path.resolve(path.dirname(file), match[1]);
      const candidates = [`${base}.ts`, path.join(base, "index.ts")];
      const found = candidates.find((c) => existsSync(c));
      if (found) queue.push(found);
    }
  }
  const folders = [...seen].map((f) => path.relative(ROOT, f).split(path.sep)).filter((p) => p.length > 1);
  return [...new Set(folders.map((p) => p[0]))].sort();
}

function unreviewedSecretUse(workflow: Yaml): string[] {
  const found: string[] = [];
  if (SECRET.test(JSON.stringify(at(workflow, "env") ?? {}))) found.push("workflow env");
  if (at(workflow, "permissions", "id-token") === "write") found.push("workflow permissions");
  for (const [name, job] of Object.entries(at(workflow, "jobs") as Yaml)) {
    if (at(job, "environment") === PREVIEW_ENVIRONMENT) continue;
    if (SECRET.test(JSON.stringify(job)) || at(job, "permissions", "id-token") === "write") found.push(name);
  }
  return found;
}

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
    for (const p of ["Pulumi.*.yaml", "index.ts", "package.json", ...programFolders().map((f) => `${f}/**`)])
      expect(paths).toContain(p);
    // The walk finds the folders the program runs from (plan/ was missing from the paths once).
    expect(programFolders()).toEqual(expect.arrayContaining(["components", "plan", "resources", "steps"]));
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

  it("preview: the PR's code reaches a secret or the AWS role only in a job held by its stack's preview environment", () => {
    const preview = load("preview.yml");
    expect(Object.keys(at(preview, "on") as Yaml)).toEqual(["pull_request"]);
    expect(unreviewedSecretUse(preview)).toEqual([]);
    expect(at(preview, "jobs", "test", "permissions")).toEqual({ contents: "read" });
    expect(at(preview, "jobs", "preview", "environment")).toBe(PREVIEW_ENVIRONMENT);
    // Its own read-only role, one per stack (an environment secret), never deploy's.
    const credentials = steps(preview, "preview").find((s) => s.uses?.startsWith("aws-actions/"));
    expect(credentials?.with?.["role-to-assume"]).toBe("${{ secrets.AWS_PREVIEW_ROLE_ARN }}");
    expect(JSON.stringify(preview)).not.toContain("secrets.AWS_ROLE_ARN");
    // Approving a preview is never approving a deploy: the environments are distinct.
    const stacks = at(preview, "jobs", "preview", "strategy", "matrix", "stack") as string[];
    const previewEnvironments = stacks.map((stack) =>
      PREVIEW_ENVIRONMENT.replace("${{ matrix.stack }}", stack),
    );
    expect(previewEnvironments).toEqual(["preview-staging", "preview-prod"]);
    const deployEnvironments = at(
      load("deploy.yml"),
      "on",
      "workflow_dispatch",
      "inputs",
      "environment",
      "options",
    );
    for (const name of previewEnvironments) expect(deployEnvironments).not.toContain(name);
    // The gate is held by AWS, not by this file (which a PR can edit): the header says how.
    expect(readFileSync(path.join(WORKFLOWS, "preview.yml"), "utf8")).toContain(
      "repo:<owner>/<repo>:environment:preview-<stack>",
    );
  });

  it("the secret check above does flag a preview job without its environment, a secret in the test job, or a workflow-wide token", () => {
    const preview = load("preview.yml");
    const ungated = structuredClone(preview);
    delete (at(ungated, "jobs", "preview") as Yaml).environment;
    expect(unreviewedSecretUse(ungated)).toEqual(["preview"]);
    const leaky = structuredClone(preview);
    (at(leaky, "jobs", "test") as Yaml).env = { URL: "${{ secrets.PULUMI_BACKEND_URL }}" };
    expect(unreviewedSecretUse(leaky)).toEqual(["test"]);
    const wide = structuredClone(preview);
    wide.permissions = { contents: "read", "id-token": "write" };
    expect(unreviewedSecretUse(wide)).toEqual(["workflow permissions"]);
    // GitHub's per-run token is not a stack secret.
    const token = structuredClone(preview);
    (at(token, "jobs", "test") as Yaml).env = { T: "${{ secrets.GITHUB_TOKEN }}" };
    expect(unreviewedSecretUse(token)).toEqual([]);
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

  it("deploy: one run per stack, never cancelled; a preview waiting at its gate never holds or cancels a deploy", () => {
    const preview = at(load("preview.yml"), "jobs", "preview", "concurrency");
    const deploy = at(load("deploy.yml"), "jobs", "up", "concurrency");
    expect(deploy).toEqual({ group: "pulumi-stack-${{ inputs.environment }}", "cancel-in-progress": false });
    // A job parked at an environment's reviewers counts as running in its concurrency group: in the
    // deploy's group, an unapproved preview would hold back the deploy, and the next PR push (a newer
    // pending job) would cancel the deploy waiting behind it. A preview reads the state and writes
    // nothing (no lock on an S3 backend), so it needs no slot beside an up. Per PR, a newer push
    // replaces the older preview, so what a reviewer approves is always the PR's latest code.
    expect(preview).toEqual({
      group: "pulumi-preview-${{ matrix.stack }}-${{ github.event.pull_request.number }}",
      "cancel-in-progress": true,
    });
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
