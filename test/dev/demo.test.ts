import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";

test("npm run demo starts its own stack when none runs, runs every scenario and exits 0", async () => {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "dev", "demo.js")], {
    env: { ...process.env, DEMO_API_URL: "http://127.0.0.1:9/api", WEBSITE_HOSTNAME: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, out);
  for (const scenario of ["success", "failure", "timeout", "cancel", "retry", "verify"]) {
    assert.match(out, new RegExp(`\\| ${scenario} \\|`), scenario);
  }
  assert.match(out, /All scenarios ended as expected/);
});
