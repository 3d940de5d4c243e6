// `npm run histories:record [-- <version>]`: records the replay test's histories of the current version.
// Runs the orchestration tests (deployments, rollouts, the customer agent) with HISTORIES_RECORD=1; their
// recorder writes each finished instance to test/replay/histories/<version>/<orchestrator>/<test>.json.
// The version is the argument, else each app's host.json extensions.durableTask.defaultVersion, else
// `unversioned`. That version's folders are recreated; other versions' histories are never touched.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const { HISTORIES_DIR, declaredVersion } = require("../dist/test/replay/histories.js");
const forced = process.argv[2];
const env = { ...process.env, HISTORIES_RECORD: "1", ...(forced ? { HISTORIES_VERSION: forced } : {}) };

const runs = [
  {
    app: "provider",
    orchestrators: [
      "deployment",
      "statusPump",
      "verifyTenant",
      "rollout",
      "rolloutBatch",
      "notificationDelivery",
    ],
  },
  { app: "customer", orchestrators: ["agentDeployment"] },
];
for (const { app, orchestrators } of runs) {
  const version = declaredVersion(app, env);
  for (const o of orchestrators)
    fs.rmSync(path.join(HISTORIES_DIR, version, o), { recursive: true, force: true });
  console.log(`recording ${app} histories as version '${version}'`);
}
const result = spawnSync(
  process.execPath,
  [
    path.join(root, "scripts", "run-tests.js"),
    "test/orchestrators/deployment.test",
    "test/orchestrators/rollout.test",
    "test/orchestrators/rollout-health.test",
    "test/orchestrators/notificationDelivery.test",
    "test/customer/agent/orchestration.test",
  ],
  { stdio: "inherit", env },
);
if (result.status !== 0) {
  console.error("an orchestration test failed: the recorded histories are incomplete, do not commit them");
  process.exit(result.status ?? 1);
}
console.log(`histories written under ${path.relative(root, HISTORIES_DIR)}`);
