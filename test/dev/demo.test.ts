import { test } from "node:test";
import assert from "node:assert/strict";
import { runDevScript } from "../helpers/script";

test("npm run demo starts its own stack when none runs, runs every scenario and exits 0", async () => {
  const { code, output: out } = await runDevScript("demo", {
    DEMO_API_URL: "http://127.0.0.1:9/api",
    WEBSITE_HOSTNAME: "",
  });
  assert.equal(code, 0, out);
  for (const scenario of ["success", "failure", "timeout", "cancel", "retry", "verify"]) {
    assert.match(out, new RegExp(`\\| ${scenario} \\|`), scenario);
  }
  assert.match(out, /All scenarios ended as expected/);
});
