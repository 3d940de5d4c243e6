// Flat ESLint config: typescript-eslint recommended rules over every TypeScript source, and the boundary
// between product code and dev/ (test/lint/boundaries.test.ts proves a break fails lint).
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", ".data/**"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // Boundary: product code (what is deployed) never imports the local runtime in dev/ (docs/architecture.md).
    files: [
      "lib/**/*.ts",
      "orchestrators/**/*.ts",
      "activities/**/*.ts",
      "triggers/**/*.ts",
      "customer/**/*.ts",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/dev", "**/dev/**"],
              message: "Product code never imports dev/ (the local runtime is never deployed).",
            },
          ],
        },
      ],
    },
  },
  {
    // Function length in product code (tests exempt): a function reads in one screen. The handler
    // factories listed under `ignores` (one closure per HTTP handler over the factory's dependencies) are
    // longer until each handler is a function of its own.
    files: ["lib/**/*.ts", "activities/**/*.ts", "triggers/**/*.ts", "customer/**/*.ts"],
    ignores: [
      "lib/deployments/http.ts",
      "lib/rollouts/http.ts",
      "lib/tenants/http.ts",
      "customer/agent/commands.ts",
    ],
    rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    // Orchestration code reads as its steps: a short top-level flow of named phases (docs/architecture.md).
    files: ["orchestrators/**/*.ts", "customer/agent/orchestration.ts"],
    rules: { "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }] },
  },
  {
    // Boundary: dev/ reaches product code only through dev/product.ts, the one documented crossing (the
    // dev host loads the app by path and must not otherwise link to product internals; docs/dev-host.md).
    files: ["dev/**/*.ts"],
    ignores: ["dev/product.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\./)+(lib|customer|orchestrators|activities|triggers)(/|$)",
              message:
                "dev/ reaches product code only through dev/product.ts (the one documented crossing); re-export what you need there.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        module: "writable",
        process: "readonly",
        console: "readonly",
        __dirname: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // The dashboard's own scripts run in the browser as classic scripts of one page (lib/dashboard/page.ts
    // inlines them), sharing the page's top-level helpers.
    files: ["dashboard/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: {
        window: "readonly",
        document: "readonly",
        location: "readonly",
        fetch: "readonly",
        console: "readonly",
        setInterval: "readonly",
        URLSearchParams: "readonly",
        FormData: "readonly",
        Node: "readonly",
      },
    },
  },
);
