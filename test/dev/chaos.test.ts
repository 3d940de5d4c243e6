/**
 * The short version of `npm run chaos` (CHAOS_SCALE=small): kill -9 of the Provider host and of an agent,
 * of the Provider host in the middle of a rollout,
 * a frozen broker with deployments started during the freeze, and bad statuses beside real deployments,
 * on the real supervised stack. Every count must be 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runDevScript } from "../helpers/script";

test("npm run chaos (small): nothing lost, falsified, stranded or run twice under faults", async () => {
  const { code, output: out } = await runDevScript("chaos", { CHAOS_SCALE: "small", WEBSITE_HOSTNAME: "" });
  assert.equal(code, 0, out);
  for (const fault of [
    "Provider host kill -9",
    "customer agent kill -9",
    "Provider host kill -9 mid-rollout",
    "Service Bus frozen",
    "bad statuses",
  ])
    assert.match(out, new RegExp(`\\| [^|]*${fault}[^|]* \\| \\d+ \\| 0 \\| 0 \\| 0 \\| 0 \\|`), fault);
});
