/**
 * The audit trail and four eyes with role checks on (AUTH_REQUIRE_ROLES=true) and self-approval allowed
 * (ROLLOUTS_ALLOW_SELF_APPROVAL=true), through the Provider app on the dev host. Roles off: ./audit.test.ts.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  ALICE,
  shown,
  auditPage,
  type AuditStack,
  BOB,
  call,
  gatedRollout,
  principal,
  startAuditStack,
  until,
} from "../../helpers/audit";

const TENANTS = ["charlie", "delta"];
let stack: AuditStack;

before(async () => {
  stack = await startAuditStack(
    TENANTS,
    // Role checks are trusted only behind App Service Authentication, which the dev host emulates.
    {
      AUTH_REQUIRE_ROLES: "true",
      DEV_EMULATE_APP_SERVICE_AUTH: "true",
      ROLLOUTS_ALLOW_SELF_APPROVAL: "true",
    },
    principal(ALICE),
  );
});
after(async () => {
  await stack?.close();
});

test("GET /api/audit requires Audit.Read: 401 without a principal, 403 without the role", async () => {
  assert.equal((await call(stack.host, "GET", "/api/audit")).status, 401);
  const denied = await call(stack.host, "GET", "/api/audit", {
    headers: principal(BOB, ["Deployments.Write"]),
  });
  assert.equal(denied.status, 403);
  assert.match(String(denied.body.detail), /Audit\.Read/);
  const rows = await auditPage(stack.host, "?target=tenant:charlie", principal(BOB, ["Audit.Read"]));
  assert.deepEqual(
    rows.items.map((i) => [i.action, i.actor]),
    [["tenant.register", { name: ALICE.name, id: ALICE.objectId }]],
  );
});

test("a request refused for its role is on record with its actor and 403", async () => {
  const res = await call(stack.host, "DELETE", "/api/tenants/delta", {
    headers: principal(BOB, ["Tenants.Read"]),
  });
  assert.equal(res.status, 403);
  const rows = await auditPage(stack.host, "?target=tenant:delta", principal(BOB, ["Audit.Read"]));
  assert.deepEqual(
    rows.items.map((i) => [i.action, i.actor.name, i.status]),
    [
      ["tenant.delete", BOB.name, 403],
      ["tenant.register", ALICE.name, 201],
    ],
  );
});

test("approve requires Rollouts.Approve, and ROLLOUTS_ALLOW_SELF_APPROVAL lets the starter approve", async () => {
  const writer = principal(ALICE, ["Deployments.Write", "Deployments.Read"]);
  const rollout = (id: string) =>
    call(stack.host, "GET", `/api/rollouts/${id}`, { headers: writer }).then((r) => r.body);
  const started = await call(stack.host, "POST", "/api/rollouts", {
    headers: writer,
    body: gatedRollout(TENANTS),
  });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const id = String(started.body.id);
  await until(
    () => rollout(id),
    (r) => r.state === "WaitingForApproval",
    "gate",
  );
  const noRole = await call(stack.host, "POST", `/api/rollouts/${id}/approve`, { headers: writer });
  assert.equal(noRole.status, 403);
  assert.match(String(noRole.body.detail), /Rollouts\.Approve/);
  const self = await call(stack.host, "POST", `/api/rollouts/${id}/approve`, {
    headers: principal(ALICE, ["Rollouts.Approve"]),
  });
  assert.equal(self.status, 202, JSON.stringify(self.body));
  const waves = (await rollout(id)).waves as { approvedBy?: unknown }[];
  assert.deepEqual(waves[0]?.approvedBy, shown(ALICE));
  await until(
    () => rollout(id),
    (r) => r.state === "Succeeded",
    "succeeds",
  );
  const rows = await auditPage(stack.host, `?target=rollout:${id}`, principal(BOB, ["Audit.Read"]));
  assert.deepEqual(
    rows.items.filter((i) => i.action === "rollout.approve").map((i) => i.status),
    [202, 403],
  );
});
