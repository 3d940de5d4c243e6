import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";

// The app setting DURABLE_TIME_SKIPPING turns on the engine's time skipping for a dev host (as
// `--time-skipping` does): the host says so, and an activity still wins over a timer it races.
const appDir = path.join(__dirname, "..", "..", "..", "..", "test", "fixtures", "durable-app");
let azurite: RunningAzurite;
let host: RunningHost | undefined;
const lines: string[] = [];

before(async () => {
  azurite = await startAzurite();
  host = await startHost({
    appDir,
    port: 0,
    quiet: true,
    settings: { AzureWebJobsStorage: azurite.connectionString, DURABLE_TIME_SKIPPING: "true" },
    log: (level, message) => lines.push(`${level}: ${message}`),
  });
});

after(async () => {
  await host?.stop();
  await azurite.stop();
});

test("DURABLE_TIME_SKIPPING=true runs the host's durable engine with time skipping", async () => {
  assert.ok(
    lines.some((l) => l.startsWith("warn: Durable time skipping is on")),
    lines.join("\n"),
  );
  const res = await fetch(`${host!.url}/api/orchestrators/wait/cancelTimer?timeout=10`, { method: "POST" });
  assert.equal(res.status, 200, "no time skips while the activity runs: it wins over the 2-minute timer");
  assert.equal(await res.json(), "Hello from the other side");
});
