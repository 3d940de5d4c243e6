/**
 * The audit trail and attribution through the Provider app on the dev host with role checks off (local):
 * every state-changing route writes one audit row (refusals too), GET /api/audit filters and pages it,
 * deployments and rollouts record who started, terminated, approved, paused and aborted them (a principal
 * header, when sent, names the actor), and four eyes holds on approvals. Roles on: ./audit-roles.test.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEPLOYMENTS_TABLE } from "../../../lib/deployments/ledger";
import { ROLLOUTS_TABLE } from "../../../lib/rollouts/store";
import { createTableClient } from "../../../lib/storage/tables";
import {
  ALICE,
  shown,
  auditPage,
  type AuditStack,
  BOB,
  call as callOn,
  gatedRollout,
  principal,
  startAuditStack,
  until,
} from "../../helpers/audit";
import { writeOldDeployment, writeOldRollout } from "../../helpers/rows-0.1.0";
import { sleep } from "../../helpers/servicebus";

const LOCAL = ["alpha", "bravo"];
let stack: AuditStack;

before(async () => {
  stack = await startAuditStack(LOCAL, {});
});
after(async () => {
  await stack?.close();
});

const call = (
  method: string,
  pathname: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
) => callOn(stack.host, method, pathname, options);
const audit = (query: string) => auditPage(stack.host, query);
const rollout = (id: string) => call("GET", `/api/rollouts/${id}`).then((r) => r.body);
const deployment = (id: string) => call("GET", `/api/deployments/${id}`).then((r) => r.body);
const twoWaves = gatedRollout(LOCAL);

/** The one audit row of `action` on `target`, with the status the API answered. */
async function expectRow(target: string, action: string, status: number, actor = "local") {
  const rows = (await audit(`?target=${encodeURIComponent(target)}`)).items.filter(
    (i) => i.action === action,
  );
  assert.equal(rows.length, 1, `${action} on ${target}: ${JSON.stringify(rows)}`);
  assert.equal(rows[0]!.status, status, `${action} on ${target}`);
  assert.equal(rows[0]!.actor.name, actor);
  assert.ok(rows[0]!.requestId);
  return rows[0]!;
}

describe("each state-changing request writes one audit row", () => {
  test("tenants: register, replace, verify, delete (and a refused delete)", async () => {
    const body = {
      directoryId: "a0000000-0000-4000-8000-0000000000ee",
      serviceBus: { namespace: "echo.servicebus.localhost" },
      auth: { mode: "sas", sasSetting: "TENANT_ECHO_SAS" },
    };
    assert.equal((await call("PUT", "/api/tenants/echo", { body })).status, 201);
    assert.equal(
      (await call("PUT", "/api/tenants/echo", { body: { ...body, displayName: "E" } })).status,
      200,
    );
    // A refused PUT: a secret-setting outside the prefix (400).
    const bad = { ...body, auth: { mode: "sas", sasSetting: "AzureWebJobsStorage" } };
    assert.equal((await call("PUT", "/api/tenants/echo", { body: bad })).status, 400);
    await call("POST", "/api/tenants/alpha/verify", {
      body: { timeoutSeconds: 10 },
      headers: {
        "x-ms-request-id": "req-123",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    });
    assert.equal((await call("DELETE", "/api/tenants/echo")).status, 204);
    await expectRow("tenant:echo", "tenant.register", 201);
    await expectRow("tenant:echo", "tenant.replace", 200);
    await expectRow("tenant:echo", "tenant.put", 400);
    await expectRow("tenant:echo", "tenant.delete", 204);
    const verify = await expectRow("tenant:alpha", "tenant.verify", 200);
    assert.equal(verify.clientRequestId, "req-123");
    assert.equal(verify.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });

  test("deployments: start, cancel, terminate, retry, rewind; requestedBy and terminatedBy on the record", async () => {
    const long = { spec: { demo: { steps: 50, stepMs: 200 } } };
    const started = await call("POST", "/api/tenants/alpha/deployments", {
      body: long,
      headers: principal(ALICE),
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = String(started.body.id);
    const record = await deployment(id);
    assert.deepEqual(record.requestedBy, shown(ALICE));
    assert.deepEqual((record.timeline as { event: string; by?: unknown }[])[0]?.by, shown(ALICE));
    assert.equal(
      (await call("POST", `/api/deployments/${id}/terminate`, { headers: principal(BOB) })).status,
      202,
    );
    const terminated = await deployment(id);
    assert.equal(terminated.outcome, "Terminated");
    assert.deepEqual(terminated.terminatedBy, shown(BOB));
    assert.ok(
      (terminated.timeline as { event: string; by?: unknown }[]).some(
        (e) => e.event === "Terminated" && (e.by as { name?: string })?.name === BOB.name,
      ),
    );
    // A refusal is on record too: cancelling what has ended is 409.
    assert.equal((await call("POST", `/api/deployments/${id}/cancel`)).status, 409);
    assert.equal((await call("POST", `/api/deployments/${id}/rewind`)).status, 409);
    const retried = await call("POST", `/api/deployments/${id}/retry`);
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    const second = await deployment(id);
    assert.equal(second.attempt, 2);
    assert.deepEqual(second.requestedBy, { name: "local" });
    assert.equal((await call("POST", `/api/deployments/${id}/cancel`)).status, 202);
    await expectRow(`deployment:${id}`, "deployment.start", 202, ALICE.name);
    await expectRow(`deployment:${id}`, "deployment.terminate", 202, BOB.name);
    await expectRow(`deployment:${id}`, "deployment.retry", 202);
    await expectRow(`deployment:${id}`, "deployment.rewind", 409);
    const cancels = (await audit(`?target=deployment:${id}`)).items.filter(
      (i) => i.action === "deployment.cancel",
    );
    assert.deepEqual(
      cancels.map((c) => c.status),
      [202, 409],
      "newest first: the accepted cancel, then the refused one",
    );
    // A start refused before any deployment exists is recorded against the tenant.
    assert.equal(
      (await call("POST", "/api/tenants/alpha/deployments", { body: { spec: {}, nope: 1 } })).status,
      400,
    );
    await expectRow("tenant:alpha", "deployment.start", 400);
    await until(
      () => deployment(id),
      (d) => d.phase === "Completed",
      "the cancelled retry ends",
    );
  });

  test("rollouts: start, pause, resume, approve, abort, retry; startedBy and the controls on the view", async () => {
    const started = await call("POST", "/api/rollouts", { body: twoWaves, headers: principal(ALICE) });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = String(started.body.id);
    assert.deepEqual(started.body.startedBy, shown(ALICE));
    await until(
      () => rollout(id),
      (r) => r.state === "WaitingForApproval",
      "gate",
    );
    assert.equal((await call("POST", `/api/rollouts/${id}/pause`, { headers: principal(BOB) })).status, 202);
    assert.equal((await call("POST", `/api/rollouts/${id}/resume`, { headers: principal(BOB) })).status, 202);
    // Four eyes: the starter is refused, with the reason; another person approves.
    const self = await call("POST", `/api/rollouts/${id}/approve`, { headers: principal(ALICE) });
    assert.equal(self.status, 403, JSON.stringify(self.body));
    assert.match(String(self.body.detail), /started by alice@contoso\.example.*four eyes/);
    assert.equal(
      (await call("POST", `/api/rollouts/${id}/approve`, { headers: principal(BOB) })).status,
      202,
    );
    const view = await rollout(id);
    const waves = view.waves as { name: string; approvedBy?: unknown }[];
    assert.deepEqual(waves[0]?.approvedBy, shown(BOB));
    assert.deepEqual(
      (view.controls as { action: string; by: { name: string } }[]).map((c) => [c.action, c.by.name]),
      [
        ["pause", BOB.name],
        ["resume", BOB.name],
        ["approve", BOB.name],
      ],
    );
    await until(
      () => rollout(id),
      (r) => ["Succeeded", "Halted", "Aborted"].includes(String(r.state)),
      "end",
    );
    // Abort of an ended rollout is refused (409), and recorded.
    assert.equal((await call("POST", `/api/rollouts/${id}/abort`)).status, 409);
    const retry = await call("POST", `/api/rollouts/${id}/retry`, { headers: principal(BOB) });
    assert.equal(retry.status, 409, "every tenant succeeded: nothing to retry");
    await expectRow(`rollout:${id}`, "rollout.start", 202, ALICE.name);
    await expectRow(`rollout:${id}`, "rollout.pause", 202, BOB.name);
    await expectRow(`rollout:${id}`, "rollout.resume", 202, BOB.name);
    await expectRow(`rollout:${id}`, "rollout.abort", 409);
    await expectRow(`rollout:${id}`, "rollout.retry", 409, BOB.name);
    const approvals = (await audit(`?target=rollout:${id}`)).items.filter(
      (i) => i.action === "rollout.approve",
    );
    assert.deepEqual(
      approvals.map((a) => [a.actor.name, a.status]),
      [
        [BOB.name, 202],
        [ALICE.name, 403],
      ],
    );
  });

  test("an aborted rollout's retry starts a new rollout whose starter is the retrier", async () => {
    const started = await call("POST", "/api/rollouts", { body: twoWaves, headers: principal(ALICE) });
    const id = String(started.body.id);
    await until(
      () => rollout(id),
      (r) => r.state === "WaitingForApproval",
      "gate",
    );
    assert.equal((await call("POST", `/api/rollouts/${id}/abort`, { headers: principal(BOB) })).status, 202);
    await until(
      () => rollout(id),
      (r) => r.state === "Aborted",
      "aborted",
    );
    const retry = await call("POST", `/api/rollouts/${id}/retry`, { headers: principal(BOB) });
    assert.equal(retry.status, 202, JSON.stringify(retry.body));
    assert.deepEqual(retry.body.startedBy, shown(BOB));
    assert.equal(retry.body.controls, undefined, "no control of the old rollout carries over");
    const aborted = await rollout(id);
    assert.deepEqual(
      (aborted.controls as { action: string }[]).map((c) => c.action),
      ["abort"],
    );
    await expectRow(`rollout:${id}`, "rollout.abort", 202, BOB.name);
    await expectRow(`rollout:${id}`, "rollout.retry", 202, BOB.name);
    await until(
      () => rollout(String(retry.body.id)),
      (r) => r.state === "WaitingForApproval" || r.state === "Succeeded",
      "retry runs",
    );
    await call("POST", `/api/rollouts/${String(retry.body.id)}/abort`);
  });

  test("locally without a principal, a rollout started by local is approved by local (npm start's ring rollout)", async () => {
    const started = await call("POST", "/api/rollouts", { body: twoWaves });
    const id = String(started.body.id);
    assert.deepEqual(started.body.startedBy, { name: "local" });
    await until(
      () => rollout(id),
      (r) => r.state === "WaitingForApproval",
      "gate",
    );
    assert.equal((await call("POST", `/api/rollouts/${id}/approve`)).status, 202);
    await until(
      () => rollout(id),
      (r) => r.state === "Succeeded",
      "succeeds",
    );
    await expectRow(`rollout:${id}`, "rollout.approve", 202);
  });
});

describe("GET /api/audit", () => {
  test("filters by actor (name or object id) and since, newest first, and pages", async () => {
    const mark = new Date().toISOString();
    await sleep(5);
    for (const n of [1, 2, 3])
      assert.equal(
        (
          await call("POST", "/api/tenants/bravo/deployments", {
            body: { deploymentId: `page-${n}`, spec: {} },
            headers: principal(BOB),
          })
        ).status,
        202,
      );
    const byName = await audit(`?actor=${encodeURIComponent(BOB.name)}&since=${mark}`);
    assert.deepEqual(
      byName.items.map((i) => i.target),
      ["deployment:page-3", "deployment:page-2", "deployment:page-1"],
    );
    const byOid = await audit(`?actor=${BOB.objectId}&since=${mark}`);
    assert.deepEqual(
      byOid.items.map((i) => i.target),
      byName.items.map((i) => i.target),
    );
    const all = await audit(`?since=${mark}`);
    for (let i = 1; i < all.items.length; i++)
      assert.ok(all.items[i - 1]!.at >= all.items[i]!.at, "newest first");
    assert.equal((await audit(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).items.length, 0);
    // Paging: one at a time through the three, each once, in order.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await audit(
        `?actor=${BOB.objectId}&since=${mark}&top=1${token ? `&continuationToken=${encodeURIComponent(token)}` : ""}`,
      );
      assert.ok(page.items.length <= 1);
      seen.push(...page.items.map((i) => i.target));
      token = page.continuationToken;
    } while (token);
    assert.deepEqual(
      seen,
      byName.items.map((i) => i.target),
    );
    // No query at all: every record, the newest first.
    const latest = await audit("?top=1");
    assert.equal(latest.items.length, 1);
    assert.ok(latest.continuationToken);
  });

  test("a bad query is 400 problem+json naming the field", async () => {
    const token = Buffer.from("garbage!").toString("base64");
    for (const [query, field] of [
      ["?target=deployment", "target"],
      ["?target=user:x", "target"],
      ["?since=yesterday", "since"],
      ["?top=0", "top"],
      ["?top=1001", "top"],
      ["?continuationToken=" + token, "continuationToken"],
      ["?who=alice", "who"],
    ]) {
      const res = await fetch(`${stack.host.url}/api/audit${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const body = (await res.json()) as { errors?: { field: string }[] };
      assert.ok(
        body.errors?.some((e) => e.field === field),
        `${query}: ${JSON.stringify(body.errors)}`,
      );
    }
  });
});

describe("rows written before attribution (0.2.0 shapes) still read", () => {
  test("a deployment without requestedBy and a rollout without startedBy or controls answer 200 without them", async () => {
    const table = (name: string) => createTableClient(stack.azurite.connectionString, name);
    await writeOldDeployment(table(DEPLOYMENTS_TABLE), "alpha", "old-dep");
    await writeOldRollout(table(ROLLOUTS_TABLE), "old-rollout", ["alpha"]);
    // 0.2.0 wrote the same columns as 0.1.0 plus schemaVersion 1.
    await table(DEPLOYMENTS_TABLE).updateEntity(
      { partitionKey: "alpha", rowKey: "old-dep~0001", schemaVersion: 1 },
      "Merge",
    );
    await table(ROLLOUTS_TABLE).updateEntity(
      { partitionKey: "old-rollout", rowKey: "_", schemaVersion: 1 },
      "Merge",
    );
    const dep = await call("GET", "/api/deployments/old-dep");
    assert.equal(dep.status, 200, JSON.stringify(dep.body));
    assert.equal(dep.body.requestedBy, undefined);
    assert.equal(dep.body.terminatedBy, undefined);
    const r = await call("GET", "/api/rollouts/old-rollout");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.startedBy, undefined);
    assert.equal(r.body.controls, undefined);
    assert.equal((r.body.waves as { approvedBy?: unknown }[])[0]?.approvedBy, undefined);
  });
});
