import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AppLoadError, applyLocalSettings, loadApp, readHostJson } from "../../../dev/host/app";

function tempApp(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-app-"));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

test("local settings never overwrite variables already set", () => {
  const dir = tempApp({
    "local.settings.json": JSON.stringify({ Values: { A_SETTING: "from file", B_SETTING: "b" } }),
  });
  const env: NodeJS.ProcessEnv = { A_SETTING: "from env" };
  assert.deepEqual(applyLocalSettings(dir, env), ["B_SETTING"]);
  assert.equal(env.A_SETTING, "from env");
  assert.equal(env.B_SETTING, "b");
});

test("host.json defaults and overrides", () => {
  const versioning = { versionMatchStrategy: "CurrentOrOlder", versionFailureStrategy: "Reject" };
  assert.deepEqual(readHostJson(tempApp({})), { routePrefix: "api", hubName: "TestHubName", versioning });
  const dir = tempApp({
    "host.json": JSON.stringify({
      extensions: { http: { routePrefix: "" }, durableTask: { hubName: "Hub1" } },
    }),
  });
  assert.deepEqual(readHostJson(dir), { routePrefix: "", hubName: "Hub1", versioning });
  const limits = tempApp({
    "host.json": JSON.stringify({
      extensions: {
        durableTask: { maxConcurrentActivityFunctions: 200, maxConcurrentOrchestratorFunctions: "x" },
      },
    }),
  });
  assert.deepEqual(readHostJson(limits), {
    routePrefix: "api",
    hubName: "TestHubName",
    versioning,
    maxConcurrentActivities: 200,
  });
});

test("host.json hubName may name an app setting, as the Durable extension allows", () => {
  const dir = tempApp({
    "host.json": JSON.stringify({ extensions: { durableTask: { hubName: "%MY_TASK_HUB%" } } }),
  });
  assert.equal(readHostJson(dir, { MY_TASK_HUB: "AgentContoso" }).hubName, "AgentContoso");
  assert.throws(
    () => readHostJson(dir, {}),
    (e: unknown) => e instanceof AppLoadError && /hubName: App setting "MY_TASK_HUB"/.test(e.message),
  );
});

test("clear errors for a missing package.json, a main that matches nothing, bad JSON and a failing module", () => {
  assert.throws(
    () => loadApp(tempApp({})),
    (e: unknown) => e instanceof AppLoadError && /package.json is missing/.test(e.message),
  );
  assert.throws(
    () => loadApp(tempApp({ "package.json": JSON.stringify({ main: "dist/*.js" }) })),
    /matches no file; build the app first/,
  );
  assert.throws(
    () => loadApp(tempApp({ "package.json": "{", "index.js": "" })),
    /package.json is not valid JSON/,
  );
  assert.throws(
    () =>
      loadApp(
        tempApp({
          "package.json": JSON.stringify({ main: "index.js" }),
          "index.js": "throw new Error('kaput')",
        }),
      ),
    /index.js failed to load: kaput/,
  );
});
