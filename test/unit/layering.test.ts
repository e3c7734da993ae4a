/**
 * The layering rules of eslint.config.mjs, seen to fail (negative controls): a module that names a
 * load-balancer kind outside that kind's own modules, or a plan module that loads step I/O, is
 * refused; the imports the code really makes are accepted. The repository's own config is used,
 * without type information (these rules need none), so the check takes a second, not a program build.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { ESLint, Linter } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";

/** The repository's config (an .mjs file without type declarations: loaded by its URL). */
const CONFIG_URL = pathToFileURL(path.join(__dirname, "..", "..", "eslint.config.mjs")).href;

let eslint: ESLint;

beforeAll(async () => {
  const config = ((await import(CONFIG_URL)) as { default: Linter.Config[] }).default;
  const untyped = config.map((entry) => {
    const parserOptions = entry.languageOptions?.parserOptions as Record<string, unknown> | undefined;
    if (!parserOptions?.projectService) return entry;
    const { projectService: _typed, ...rest } = parserOptions;
    return { ...entry, languageOptions: { ...entry.languageOptions, parserOptions: rest } };
  });
  eslint = new ESLint({
    overrideConfigFile: true,
    overrideConfig: [
      ...untyped,
      // The rules that need type information or the whole module graph are not what is tested here.
      { rules: { "@pulumi/no-output-in-template-literal": "off", "import-x/no-cycle": "off" } },
    ],
  });
});

/** The restricted-import messages (either rule: steps/ keeps ESLint's own) for `code` as if it were the file at `filePath`. */
async function refusals(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages
    .filter((m) => m.ruleId?.endsWith("no-restricted-imports") || m.fatal)
    .map((m) => m.message);
}

describe("no load-balancer kind by name outside its own modules (lint)", () => {
  it.each([
    ["components/preflight.ts", 'import { haproxyKind } from "../plan/lb/haproxy";\nvoid haproxyKind;\n'],
    ["components/membership/targets.ts", 'import { albKind } from "../../plan/lb/alb";\nvoid albKind;\n'],
    ["plan/plan.ts", 'import { albKind } from "./lb/alb";\nvoid albKind;\n'],
    ["plan/config/fleetChecks.ts", 'import { haproxyKind } from "../lb/haproxy";\nvoid haproxyKind;\n'],
    [
      "components/nodeUpgrade.ts",
      'import type { AlbTarget } from "../steps/lb/alb/loadBalancer";\nexport type T = AlbTarget;\n',
    ],
    [
      "driver/summary.ts",
      'import { withHaproxyInstances } from "../steps/lb/haproxyEndpoints";\nvoid withHaproxyInstances;\n',
    ],
    ["policy/rules.ts", 'import { haproxyKind } from "../plan/lb/haproxy";\nvoid haproxyKind;\n'],
  ])("refuses %s importing a kind", async (filePath, code) => {
    expect(await refusals(filePath, code)).toEqual([
      expect.stringContaining("No load-balancer kind by name outside its own modules"),
    ]);
  });

  it.each([
    ["components/preflight.ts", 'import { lbKindOf } from "../plan/lb/registry";\nvoid lbKindOf;\n'],
    ["plan/plan.ts", 'import { lbKindOf } from "./lb/registry";\nvoid lbKindOf;\n'],
    [
      "plan/config/fleetSchema.ts",
      'import type { LbKindPlan } from "../lb/kind";\nexport type K = LbKindPlan;\n',
    ],
    [
      "components/nodeUpgrade.ts",
      'import type { LoadBalancer } from "../steps/lb/loadBalancer";\nexport type L = LoadBalancer<{ type: string }, { type: string }>;\n',
    ],
    ["plan/lb/registry.ts", 'import { haproxyKind } from "./haproxy";\nvoid haproxyKind;\n'],
  ])("accepts %s importing the registry or an interface", async (filePath, code) => {
    expect(await refusals(filePath, code)).toEqual([]);
  });
});

describe("plan/ loads no step I/O (lint)", () => {
  it.each([
    [
      "plan/lb/haproxy.ts",
      'import { withHaproxyInstances } from "../../steps/lb/haproxyEndpoints";\nvoid withHaproxyInstances;\n',
    ],
    ["plan/lb/alb.ts", 'import { albDrain } from "../../steps/lb/alb/membership";\nvoid albDrain;\n'],
    ["plan/identity.ts", 'import { executeStep } from "../steps/execute";\nvoid executeStep;\n'],
  ])("refuses %s importing a step module's values", async (filePath, code) => {
    expect(await refusals(filePath, code)).toEqual([expect.stringContaining("plan/ loads no step I/O")]);
  });

  it.each([
    [
      "plan/lb/alb.ts",
      'import type { AlbTarget } from "../../steps/lb/alb/loadBalancer";\nexport type T = AlbTarget;\n',
    ],
    [
      "plan/lb/haproxy.ts",
      'import { runtimeEndpointLabel } from "../../steps/lb/haproxy/endpoint";\nvoid runtimeEndpointLabel;\n',
    ],
    [
      "plan/config/crossChecks.ts",
      'import { versionMatches } from "../../steps/version";\nvoid versionMatches;\n',
    ],
  ])("accepts %s importing types, or a pure module", async (filePath, code) => {
    expect(await refusals(filePath, code)).toEqual([]);
  });

  it("keeps refusing components/ in plan/ (the rule it replaced)", async () => {
    expect(
      await refusals("plan/plan.ts", 'import { dbRef } from "../components/membership";\nvoid dbRef;\n'),
    ).toEqual([expect.stringContaining("plan/ imports nothing from components/")]);
  });
});

describe("production code never loads a test module", () => {
  it.each([
    [
      "steps/lb/registry.ts",
      'import { fakeLoadBalancer } from "../../test/unit/support/fakeLoadBalancer";\nvoid fakeLoadBalancer;\n',
    ],
    [
      "plan/lb/registry.ts",
      'import { fakeLbKind } from "../../test/unit/support/fakeLbKind";\nvoid fakeLbKind;\n',
    ],
    [
      "resources/step.ts",
      'import { registerFakeLb } from "../test/unit/support/fakeLbKind";\nvoid registerFakeLb;\n',
    ],
  ])("refuses %s importing from test/", async (filePath, code) => {
    expect(await refusals(filePath, code)).toEqual([
      expect.stringContaining("Production code imports nothing from test/"),
    ]);
  });

  it("the provider's entry point in dist/ loads no test module and knows only the built-in kinds", () => {
    // What the engine's provider process does (resources/stepsEntry.ts): require dist/steps/execute.js.
    const root = path.join(__dirname, "..", "..");
    const probe = [
      `require(${JSON.stringify(path.join(root, "dist", "steps", "execute.js"))});`,
      `const { loadBalancerFor } = require(${JSON.stringify(path.join(root, "dist", "steps", "lb", "registry.js"))});`,
      "let known = '';",
      "try { loadBalancerFor({ type: 'fake' }); } catch (e) { known = e.message; }",
      "const loaded = Object.keys(require.cache).filter((p) => p.includes('/test/'));",
      "process.stdout.write(JSON.stringify({ known, loaded }));",
    ].join("\n");
    const out = JSON.parse(
      execFileSync(process.execPath, ["-e", probe], { cwd: root, encoding: "utf8" }),
    ) as {
      known: string;
      loaded: string[];
    };
    expect(out).toEqual({
      known: 'no load balancer of type "fake" (known: alb, haproxy); nothing was changed',
      loaded: [],
    });
  });
});
