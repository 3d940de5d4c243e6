/**
 * One version names a release: package.json's. Each app's host.json gives it to every orchestration the
 * release starts (`defaultVersion`), so `context.df.version` tells which release started an instance, and
 * `CurrentOrOlder` lets the release run every instance an earlier one started (docs/upgrading.md).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readHostJson } from "../../dev/host/app";

const root = path.join(__dirname, "..", "..", "..");
const release = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string })
  .version;

test("the Provider's and the agent's host.json start orchestrations at the release's version, CurrentOrOlder, Reject", () => {
  for (const app of [root, path.join(root, "customer")]) {
    const { versioning } = readHostJson(app, { AGENT_TASK_HUB: "AgentTest" });
    assert.deepEqual(
      versioning,
      { defaultVersion: release, versionMatchStrategy: "CurrentOrOlder", versionFailureStrategy: "Reject" },
      `${path.relative(root, app) || "."}/host.json`,
    );
  }
});

test("host.json asks for an extension bundle that has orchestration versioning for Node apps (4.26.0 or later)", () => {
  for (const app of [root, path.join(root, "customer")]) {
    const json = JSON.parse(fs.readFileSync(path.join(app, "host.json"), "utf8")) as {
      extensionBundle: { version: string };
    };
    assert.equal(json.extensionBundle.version, "[4.26.0, 5.0.0)");
  }
});

test("an unknown versioning strategy in host.json is a clear load error", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostjson-"));
  try {
    fs.writeFileSync(
      path.join(dir, "host.json"),
      JSON.stringify({ extensions: { durableTask: { versionMatchStrategy: "Newest" } } }),
    );
    assert.throws(
      () => readHostJson(dir),
      /durableTask\.versionMatchStrategy must be one of None, Strict, CurrentOrOlder/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
