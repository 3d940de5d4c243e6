import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { startAzurite } from "../../../dev/azurite";
import { startHarness, waitFor } from "./harness";
import { registerFixtureApp } from "./fixture-app";

test("a SIGKILLed engine's instances resume in a new engine (activity rerun, pending timer fires)", async () => {
  const azurite = await startAzurite();
  const child = spawn(process.execPath, [path.join(__dirname, "crash-child.js"), azurite.connectionString], {
    env: { ...process.env, DURABLE_TEST_HANG: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("SLOW_STARTED") && out.includes("READY")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`child exited early (${code}): ${out}`)));
      setTimeout(() => reject(new Error(`child not ready: ${out}`)), 20_000).unref();
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    const h = await startHarness(registerFixtureApp, { azurite });
    try {
      const crashed = await waitFor(h.client, "crash-activity");
      assert.equal(crashed.runtimeStatus, "Completed");
      assert.deepEqual(crashed.output, ["slow x", 10]);
      const parent = await waitFor(h.client, "crash-parent");
      assert.deepEqual(parent.output, { child: ["slow x", 10] });
      const timer = await waitFor(h.client, "crash-timer");
      assert.equal(timer.output, "fired");
    } finally {
      await h.close();
    }
  } finally {
    child.kill("SIGKILL");
    await azurite.stop();
  }
});
