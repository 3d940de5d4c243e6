// Flat ESLint config: typescript-eslint recommended rules over every TypeScript source, and the boundary
// between product code and dev/ (test/lint/boundaries.test.ts proves a break fails lint).
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

// Orchestration code: the orchestrator functions and the modules only they import. It is replayed from
// its history, so it must compute the same yields from the same history: time comes from
// `currentUtcDateTime`, waiting from durable timers, randomness and I/O from activities, settings from
// the orchestration input. test/lint/determinism.test.ts proves each of these rules still reports.
const ORCHESTRATION_FILES = [
  "orchestrators/**/*.ts",
  "customer/agent/orchestration.ts",
  "lib/durable/**/*.ts",
];
const REPLAY = "breaks replay: orchestration code must be deterministic";
const DETERMINISM_RULES = {
  "no-restricted-properties": [
    "error",
    { object: "Date", property: "now", message: `Date.now() ${REPLAY}; use context.df.currentUtcDateTime.` },
    {
      object: "Math",
      property: "random",
      message: `Math.random() ${REPLAY}; draw randomness in an activity.`,
    },
    {
      object: "crypto",
      property: "randomUUID",
      message: `crypto.randomUUID() ${REPLAY}; use context.df.newGuid().`,
    },
    {
      object: "performance",
      property: "now",
      message: `performance.now() ${REPLAY}; use context.df.currentUtcDateTime.`,
    },
    {
      object: "process",
      property: "env",
      message: `process.env ${REPLAY}; pass settings in the orchestration input.`,
    },
  ],
  "no-restricted-syntax": [
    "error",
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: `new Date() without arguments ${REPLAY}; use context.df.currentUtcDateTime.`,
    },
    {
      selector: "CallExpression[callee.name='Date']",
      message: `Date() ${REPLAY}; use context.df.currentUtcDateTime.`,
    },
  ],
  "no-restricted-globals": [
    "error",
    ...["setTimeout", "setInterval", "setImmediate", "queueMicrotask"].map((name) => ({
      name,
      message: `${name} ${REPLAY}; wait with context.df.createTimer.`,
    })),
    { name: "fetch", message: `fetch ${REPLAY}; do I/O in an activity.` },
  ],
  // The typescript-eslint variant, so that type-only imports (erased at compile time) stay allowed and
  // the core rule's dev/ boundary below still applies beside it.
  "@typescript-eslint/no-restricted-imports": [
    "error",
    {
      patterns: [
        {
          regex:
            "^(node:)?(fs|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads|crypto|os|process|readline|timers)(/.*)?$",
          message: `I/O, clocks and randomness ${REPLAY}; do I/O in an activity.`,
          allowTypeImports: true,
        },
        {
          group: ["@azure/*", "!@azure/functions"],
          message: `Azure SDK clients do I/O, which ${REPLAY}; call them from an activity.`,
          allowTypeImports: true,
        },
        {
          group: [
            "**/storage/tables",
            "**/messaging/channel",
            "**/credentials/*",
            "**/signing/keys",
            "**/deployments/ledger",
            "**/rollouts/store",
            "**/tenants/store",
            "**/audit/store",
          ],
          message: `This module does storage, messaging or key I/O, which ${REPLAY}; call it from an activity.`,
          allowTypeImports: true,
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", ".data/**"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: {
        // Type information from tsconfig.json's program. The lint tests (test/lint/) lint in-memory probes
        // at paths named *-probe.ts that are not on disk; those get the default project (tsconfig.json's
        // options). No file on disk is so named, so `npm run lint` never uses it; the cap only counts the
        // probes one test process opens.
        projectService: {
          allowDefaultProject: ["*/*-probe.ts", "*/*/*-probe.ts", "*/*/*/*-probe.ts"],
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 64,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test runs top-level test()/describe() calls itself and reports their failures, so their
      // returned promises are safe to leave un-awaited; any other promise must be awaited or marked `void`.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
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
    // Determinism: orchestration code has no clock, randomness, timers, environment or I/O of its own.
    files: ORCHESTRATION_FILES,
    rules: DETERMINISM_RULES,
  },
  {
    // Function length in product code (tests exempt): a function reads in one screen. A handler factory
    // maps each handler to a named function over its dependencies, so it stays short too.
    files: ["lib/**/*.ts", "activities/**/*.ts", "triggers/**/*.ts", "customer/**/*.ts"],
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
