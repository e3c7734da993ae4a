import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";
import { importX } from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";

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
    // components that wire it, the provider or the driver, which all build on it.
    files: ["plan/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/components/*", "**/components/**", "**/resources/*", "**/driver/*"],
              message: "plan/ imports nothing from components/, resources/ or driver/: they build on it.",
            },
          ],
        },
      ],
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
          ],
        },
      ],
    },
  },
);
