import { test } from "node:test";
import assert from "node:assert/strict";
import { NOTIFICATION_EXPECTED, PARAMETERS_EXPECTED, SECRET_VALUE } from "../../dev/demo-features";
import { runDevScript } from "../helpers/script";

test("npm run demo starts its own stack when none runs, runs every scenario (rollouts, tenant parameters, a notification too) and exits 0", async () => {
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
    `rollout health-halted, rolled back | Halted, 1 unhealthy, 1 rolled back, ${n - 1} skipped, ${n}/${n} on the release before |`,
    `rollout scheduled | Scheduled, then Aborted, 0 started, ${n} skipped |`,
  ])
    assert.ok(out.includes(`| ${line}`), line);
  // Tenant parameters: two tenants, one release, each sent its own parameters; no secret value shown.
  assert.ok(out.includes(`| tenant parameters | ${PARAMETERS_EXPECTED} | ${PARAMETERS_EXPECTED} |`), out);
  const sent = [
    ...out.matchAll(/\[tenant parameters\] (\S+) was sent release (\S+), (sha256:\w+), parameters (.*)$/gm),
  ];
  assert.equal(sent.length, 2, out);
  assert.notEqual(sent[0]![3], sent[1]![3]);
  assert.notEqual(sent[0]![4], sent[1]![4]);
  for (const s of sent) assert.match(s[4]!, /"dbPassword":\{"setting":"DB_PASSWORD\w*"\}/);
  assert.ok(!out.includes(SECRET_VALUE), "the secret value shows up in the demo's output");
  // Notifications: the event delivered to npm start's receiver, its signature verified there.
  assert.ok(out.includes(`| notification | ${NOTIFICATION_EXPECTED} | ${NOTIFICATION_EXPECTED} |`), out);
  assert.match(out, /\[notification\] deployment\.finished:\S+:1 attempt \d+: Delivered 204/);
  assert.match(out, /All scenarios ended as expected/);
});
