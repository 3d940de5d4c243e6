/**
 * The short version of `npm run chaos` (CHAOS_SCALE=small): kill -9 of the Provider host and of an agent,
 * a frozen broker with deployments started during the freeze, and bad statuses beside real deployments,
 * on the real supervised stack. Every count must be 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";

test("npm run chaos (small): nothing lost, falsified, stranded or run twice under faults", async () => {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "dev", "chaos.js")], {
    env: { ...process.env, CHAOS_SCALE: "small", WEBSITE_HOSTNAME: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, out);
  for (const fault of [
    "Provider host kill -9",
    "customer agent kill -9",
    "Service Bus frozen",
    "bad statuses",
  ])
    assert.match(out, new RegExp(`\\| [^|]*${fault}[^|]* \\| \\d+ \\| 0 \\| 0 \\| 0 \\| 0 \\|`), fault);
});
