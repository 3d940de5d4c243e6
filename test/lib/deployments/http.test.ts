import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { RunningAzurite, startAzurite } from "../../../dev/azurite";
import { RunningHost, startHost } from "../../../dev/host";
import type { RunningEmulator } from "../../../dev/servicebus-emulator";
import { DEPLOYMENTS_TABLE, DeploymentLedger } from "../../../lib/deployments/ledger";
import { createTableClient } from "../../../lib/storage/tables";
import { localProviderSettings } from "../../helpers/provider";
import { registerLocalTenant } from "../../helpers/tenants";
import { namespaceConfig, startEmulator } from "../../helpers/servicebus";

// The deployments API's answers to bad client input, through the Provider app on the dev host (its
// durable client is real, so a start really records and starts an attempt).
const root = path.join(__dirname, "..", "..", "..", "..");
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let host: RunningHost | undefined;
const hostLog: { level: string; message: string; props?: Record<string, unknown> }[] = [];

before(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator([
    namespaceConfig("contoso", [
      { name: "commands", properties: { LockDuration: "PT5S" } },
      { name: "status", properties: { LockDuration: "PT5S" } },
    ]),
  ]);
  host = await startHost({
    appDir: root,
    port: 0,
    quiet: true,
    settings: localProviderSettings(azurite.connectionString, emulator.namespaces),
    log: (level, message, props) => hostLog.push({ level, message, props }),
  });
  // Deployments here are never answered; they must not hit the in-flight limit.
  await registerLocalTenant(host.url, "contoso", "c0000000-0000-4000-8000-000000000001", {
    limits: { maxConcurrentDeployments: 1000 },
  });
});

after(async () => {
  await host?.stop();
  await emulator.stop();
  await azurite.stop();
});

interface Problem {
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
}

async function expectProblem(res: Response, status: number, field?: string): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(text) as Problem;
  assert.equal(body.status, status);
  if (field !== undefined)
    assert.ok(
      body.errors?.some((e) => e.field === field),
      `expected an error on "${field}", got ${JSON.stringify(body.errors)}`,
    );
  return body;
}

describe("listing a tenant's deployments", () => {
  test("a continuation token the API did not hand out is 400 naming it, and the host logs no 5xx", async () => {
    const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
    for (const token of ["garbage", json(null), json({ nextPartitionKey: ["contoso"] }), "%%%"]) {
      const before = hostLog.length;
      const res = await fetch(
        `${host!.url}/api/tenants/contoso/deployments?continuationToken=${encodeURIComponent(token)}`,
      );
      await expectProblem(res, 400, "continuationToken");
      const executed = hostLog.slice(before).find((l) => l.message.startsWith("Executed 'deploymentsList'"));
      assert.equal(executed?.props?.status, 400, JSON.stringify(executed));
    }
  });
});

async function start(
  body: unknown,
  key?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
}

describe("Idempotency-Key", () => {
  test("the same key and body is the same deployment (200); the same key with another body is 422", async () => {
    const first = await start({ spec: { template: "web", size: 2 } }, "order-1");
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const again = await start({ spec: { size: 2, template: "web" } }, "order-1");
    assert.equal(again.status, 200, "key order inside the body does not matter");
    assert.equal(again.body.id, first.body.id);
    for (const other of [
      { spec: { template: "web", size: 3 } },
      { spec: { template: "web", size: 2 }, completionTimeoutSeconds: 600 },
      { spec: { template: "web", size: 2 }, acceptanceTimeoutSeconds: 60 },
    ]) {
      const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "order-1" },
        body: JSON.stringify(other),
      });
      const problem = await expectProblem(res, 422, "Idempotency-Key");
      assert.match(problem.detail ?? "", /already used with a different request/);
    }
    const list = (await (await fetch(`${host!.url}/api/tenants/contoso/deployments`)).json()) as {
      items: { id: string }[];
    };
    assert.equal(list.items.filter((i) => i.id === first.body.id).length, 1, "nothing else was started");
  });

  test("an explicit deploymentId is part of the request", async () => {
    const first = await start({ deploymentId: "explicit-1", spec: { a: 1 } }, "order-2");
    assert.equal(first.status, 202);
    assert.equal((await start({ deploymentId: "explicit-1", spec: { a: 1 } }, "order-2")).status, 200);
    const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "order-2" },
      body: JSON.stringify({ deploymentId: "explicit-1", spec: { a: 2 } }),
    });
    await expectProblem(res, 422, "Idempotency-Key");
  });

  test("two concurrent requests with one key and different bodies: one starts, the other is 422", async () => {
    const results = await Promise.all([
      start({ spec: { racer: 1 } }, "order-race"),
      start({ spec: { racer: 2 } }, "order-race"),
    ]);
    assert.deepEqual(
      results.map((r) => r.status).sort(),
      [202, 422],
      JSON.stringify(results.map((r) => r.body)),
    );
  });

  test("after a retry the key still compares with the request that created the deployment", async () => {
    const first = await start({ spec: { flaky: true } }, "order-3");
    assert.equal(first.status, 202);
    const terminated = await fetch(`${host!.url}/api/deployments/${String(first.body.id)}/terminate`, {
      method: "POST",
    });
    assert.equal(terminated.status, 202, await terminated.text());
    const retry = await fetch(`${host!.url}/api/deployments/${String(first.body.id)}/retry`, {
      method: "POST",
    });
    assert.equal(retry.status, 202, await retry.text());
    const again = await start({ spec: { flaky: true } }, "order-3");
    assert.equal(again.status, 200);
    assert.equal(again.body.attempt, 2, "the repeat answers with the latest attempt");
    const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "order-3" },
      body: JSON.stringify({ spec: { flaky: true }, completionTimeoutSeconds: 999 }),
    });
    await expectProblem(res, 422, "Idempotency-Key");
  });

  test("a row written before requestDigest existed is compared by its spec", async () => {
    const first = await start({ spec: { legacy: true } }, "order-4");
    assert.equal(first.status, 202);
    const ledger = new DeploymentLedger(createTableClient(azurite.connectionString, DEPLOYMENTS_TABLE));
    const stripped = await ledger.update("contoso", String(first.body.id), 1, (current) => {
      const { requestDigest, ...older } = current;
      assert.ok(requestDigest, "new rows carry the request digest");
      return older;
    });
    assert.equal(stripped?.requestDigest, undefined);
    const sameSpec = await start({ spec: { legacy: true }, completionTimeoutSeconds: 999 }, "order-4");
    assert.equal(sameSpec.status, 200, "an older row only knows the spec, and the spec is the same");
    const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "order-4" },
      body: JSON.stringify({ spec: { legacy: false } }),
    });
    await expectProblem(res, 422, "Idempotency-Key");
  });
});

describe("timeouts", () => {
  test("an acceptance timeout above the completion timeout is 400 naming the field sent", async () => {
    // contoso has the default limits: acceptance 120 s, completion 3600 s.
    const cases: [Record<string, number>, string, RegExp][] = [
      [{ acceptanceTimeoutSeconds: 600, completionTimeoutSeconds: 60 }, "acceptanceTimeoutSeconds", /\(60\)/],
      [{ acceptanceTimeoutSeconds: 7200 }, "acceptanceTimeoutSeconds", /3600, the tenant's default/],
      [{ completionTimeoutSeconds: 60 }, "completionTimeoutSeconds", /120, the tenant's default/],
    ];
    for (const [timeouts, field, message] of cases) {
      const res = await fetch(`${host!.url}/api/tenants/contoso/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ spec: {}, ...timeouts }),
      });
      const problem = await expectProblem(res, 400, field);
      assert.match(problem.errors?.find((e) => e.field === field)?.message ?? "", message);
    }
  });

  test("timeouts in order, or equal, start", async () => {
    for (const timeouts of [
      { acceptanceTimeoutSeconds: 60, completionTimeoutSeconds: 60 },
      { acceptanceTimeoutSeconds: 3600 },
      { completionTimeoutSeconds: 120 },
    ]) {
      assert.equal((await start({ spec: {}, ...timeouts })).status, 202, JSON.stringify(timeouts));
    }
  });
});
