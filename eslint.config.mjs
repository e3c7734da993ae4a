import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";
import { importX } from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";

/** plan/ builds on nothing that builds on it. */
const PLAN_LAYERS = [
  {
    group: ["**/components/*", "**/components/**", "**/resources/*", "**/driver/*"],
    message: "plan/ imports nothing from components/, resources/ or driver/: they build on it.",
  },
];

/** plan/ loads no step I/O: from steps/, types only, or a module listed here as pure. */
const PLAN_STEPS = [
  {
    regex: "(^|/)steps/(?!version$|releases$|lb/[^/]+/endpoint$)",
    allowTypeImports: true,
    message:
      "plan/ loads no step I/O: import types only (import type), or a pure module (steps/version, steps/releases, steps/lb/<kind>/endpoint).",
  },
];

/**
 * No load-balancer kind by name: plan/lb/registry.ts (plan) and steps/lb/registry.ts (steps) are the
 * only places that list them; the interfaces (plan/lb/kind.ts, steps/lb/loadBalancer.ts) and the
 * rollout's settings are shared.
 */
const NO_KIND_BY_NAME = [
  {
    group: [
      "**/lb/*",
      "**/lb/*/**",
      "!**/plan/lb/registry",
      "!**/plan/lb/kind",
      "!**/plan/lb/rollout",
      "!**/steps/lb/loadBalancer",
      "!./lb/registry",
      "!./lb/kind",
      "!./lb/rollout",
      "!../lb/registry",
      "!../lb/kind",
      "!../lb/rollout",
    ],
    message:
      "No load-balancer kind by name outside its own modules: ask the registry (plan/lb/registry.ts, steps/lb/registry.ts).",
  },
];

/** Production code never loads a test module (a test-only kind registers itself from test/). */
const NO_TESTS = [{ group: ["**/test/**"], message: "Production code imports nothing from test/." }];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".work/**", "coverage/**", "eslint.config.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    // No import cycle anywhere: each module's dependencies form a tree a reader can follow.
    files: ["**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver()],
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    // Production code never loads a test module: the driver, the policy pack and the steps' provider
    // run these folders (the provider dist/steps/execute.js), and a step kind a test registers
    // (test/unit/support/fixtureProbeKind.ts) exists only in the test process that registers it.
    files: [
      "index.ts",
      "components/**/*.ts",
      "plan/**/*.ts",
      "steps/**/*.ts",
      "resources/**/*.ts",
      "driver/**/*.ts",
      "policy/**/*.ts",
    ],
    plugins: { "import-x": importX },
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        {
          zones: [{ target: "./", from: "./test", message: "production code imports no test module." }],
        },
      ],
    },
  },
  {
    // The plan is data from config (plan/config/read.ts alone reads Pulumi's config): nothing from the
    // components that wire it, the provider or the driver, which all build on it. From the steps, types
    // only, and the few modules that are pure (no I/O is loaded by building a plan). Outside plan/lb/,
    // no load-balancer kind by name: the registry (plan/lb/registry.ts) stands for all of them.
    files: ["plan/**/*.ts"],
    ignores: ["plan/lb/**/*.ts"],
    rules: {
      "no-restricted-imports": "off",
      "@typescript-eslint/no-restricted-imports": [
        "error",
        { patterns: [...PLAN_LAYERS, ...PLAN_STEPS, ...NO_KIND_BY_NAME, ...NO_TESTS] },
      ],
    },
  },
  {
    // A kind's plan module: the plan's layering, and from the steps only its own pure modules.
    files: ["plan/lb/**/*.ts"],
    rules: {
      "no-restricted-imports": "off",
      "@typescript-eslint/no-restricted-imports": [
        "error",
        { patterns: [...PLAN_LAYERS, ...PLAN_STEPS, ...NO_TESTS] },
      ],
    },
  },
  {
    // The components wire whatever kind the config names, through the registry, never by name.
    files: ["components/**/*.ts", "policy/**/*.ts", "driver/**/*.ts", "resources/**/*.ts", "index.ts"],
    rules: {
      "no-restricted-imports": "off",
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: [...NO_KIND_BY_NAME, ...NO_TESTS] }],
    },
  },
  {
    // The steps library runs inside the provider process and in tests without Pulumi.
    files: ["steps/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@pulumi/*"],
              message: "steps/ has no Pulumi imports: keep Pulumi in components/ and resources/.",
            },
            ...NO_TESTS,
          ],
        },
      ],
    },
  },
);
