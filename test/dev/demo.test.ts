import { test } from "node:test";
import assert from "node:assert/strict";
import { runDevScript } from "../helpers/script";

test("npm run demo starts its own stack when none runs, runs every scenario (rollouts too) and exits 0", async () => {
  const { code, output: out } = await runDevScript("demo", {
    DEMO_API_URL: "http://127.0.0.1:9/api",
    WEBSITE_HOSTNAME: "",
  });
  assert.equal(code, 0, out);
  for (const scenario of ["success", "failure", "timeout", "cancel", "retry", "verify"]) {
    assert.match(out, new RegExp(`\\| ${scenario} \\|`), scenario);
  }
  // The rollout scenarios, over however many tenants the stack registers.
  const n = Number(/rollout all-succeed\s+Succeeded, \d+\/(\d+) succeeded/.exec(out)?.[1]);
  assert.ok(n >= 2, out);
  for (const line of [
    `rollout all-succeed | Succeeded, ${n}/${n} succeeded |`,
    `rollout error-budget | Halted, 1 failed, ${n - 1} skipped |`,
    `rollout approval | Succeeded, ${n}/${n} succeeded after `,
    `rollout abort | Aborted, 1 cancelled, ${n - 1} skipped |`,
    `rollout of a release | Succeeded, ${n}/${n} run the release |`,
    `rollout scheduled | Scheduled, then Aborted, 0 started, ${n} skipped |`,
  ])
    assert.ok(out.includes(`| ${line}`), line);
  assert.match(out, /All scenarios ended as expected/);
});
