import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HttpHandler, HttpResponseInit } from "@azure/functions";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { loadSettings } from "../../../lib/config/settings";
import { createTableClient } from "../../../lib/storage/tables";
import { createTenantHandlers, TenantApiDeps } from "../../../lib/tenants/http";
import { TenantStore } from "../../../lib/tenants/store";
import { QueueClaims, QueueTakenError, STALE_CLAIM_MS } from "../../../lib/tenants/claims";
import { registrationInputSchema } from "../../../lib/tenants/model";
import { DeploymentLedger } from "../../../lib/deployments/ledger";
import { makeContext, makeRequest, readResponse, RequestSpec } from "../../helpers/http";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

// One registration per Service Bus namespace and queue, through the registry's
// real handlers against Azurite.
const DIRECTORY = "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f";
const OTHER_DIRECTORY = "7f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f";
let azurite: RunningAzurite;
let handlers: ReturnType<typeof createTenantHandlers>;
let store: TenantStore;
let counter = 0;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

function fresh() {
  counter += 1;
  store = new TenantStore(createTableClient(azurite.connectionString, `claims${counter}`));
  const deps: TenantApiDeps = {
    settings: loadSettings({ AzureWebJobsStorage: AZURITE }),
    store,
    ledger: new DeploymentLedger(createTableClient(azurite.connectionString, `claimsdeps${counter}`)),
  };
  handlers = createTenantHandlers(() => deps);
}

async function call(handler: HttpHandler, spec: RequestSpec) {
  return readResponse((await handler(makeRequest(spec), makeContext())) as HttpResponseInit);
}

const body = (
  namespace: string,
  queues: { commandQueue?: string; statusQueue?: string } = {},
  dir = DIRECTORY,
) => ({
  directoryId: dir,
  serviceBus: { namespace, ...queues },
});
const put = (tenant: string, b: unknown) =>
  call(handlers.put, { method: "PUT", params: { tenant }, body: b });
const del = (tenant: string) =>
  call((req, ctx) => handlers.delete(req, ctx), { method: "DELETE", params: { tenant } });

function assertTaken(res: Awaited<ReturnType<typeof put>>, holder: string) {
  assert.equal(res.status, 409, JSON.stringify(res.body));
  assert.equal(res.headers["content-type"], "application/problem+json");
  const problem = res.body as { detail: string; holder: string };
  assert.equal(problem.holder, holder);
  assert.match(problem.detail, new RegExp(`tenant "${holder}"`));
}

describe("one registration per namespace and queue", () => {
  before(fresh);

  test("a second registration of another tenant's namespace and queues is 409 naming the holder", async () => {
    assert.equal((await put("contoso", body("contoso-deploy.servicebus.windows.net"))).status, 201);
    assertTaken(
      await put("mallory", body("contoso-deploy.servicebus.windows.net", {}, OTHER_DIRECTORY)),
      "contoso",
    );
    // Namespaces are DNS names: case does not make another namespace.
    assertTaken(await put("mallory", body("CONTOSO-deploy.ServiceBus.windows.net")), "contoso");
    assert.equal(await store.get("mallory"), undefined);
  });

  test("the same namespace with only the status queue (or only the command queue) in common is 409", async () => {
    const ns = "contoso-deploy.servicebus.windows.net";
    assertTaken(await put("mallory", body(ns, { commandQueue: "mine", statusQueue: "status" })), "contoso");
    assertTaken(await put("mallory", body(ns, { commandQueue: "commands", statusQueue: "mine" })), "contoso");
    // One tenant's status queue cannot be another's command queue either.
    assertTaken(await put("mallory", body(ns, { commandQueue: "status", statusQueue: "mine" })), "contoso");
    assert.equal(await store.get("mallory"), undefined);
  });

  test("other queues of the same namespace, and the same queue names in another namespace, are fine", async () => {
    const ns = "contoso-deploy.servicebus.windows.net";
    const res = await put(
      "fabrikam",
      body(ns, { commandQueue: "fabrikam-commands", statusQueue: "fabrikam-status" }),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal((await put("tailspin", body("tailspin.servicebus.windows.net"))).status, 201);
  });

  test("replacing a tenant's own registration is 200, and the queues it gives up are free again", async () => {
    const ns = "contoso-deploy.servicebus.windows.net";
    const same = await put("contoso", { ...body(ns), displayName: "Contoso Ltd" });
    assert.equal(same.status, 200, JSON.stringify(same.body));
    const moved = await put(
      "contoso",
      body(ns, { commandQueue: "contoso-commands", statusQueue: "contoso-status" }),
    );
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal((await put("mallory", body(ns, {}, OTHER_DIRECTORY))).status, 201);
    assertTaken(
      await put("other", body(ns, { commandQueue: "contoso-commands", statusQueue: "x" })),
      "contoso",
    );
  });

  test("after the holder is deleted, another tenant may register its namespace and queues", async () => {
    const ns = "holder.servicebus.windows.net";
    assert.equal((await put("holder", body(ns))).status, 201);
    assertTaken(await put("successor", body(ns)), "holder");
    assert.equal((await del("holder")).status, 204);
    assert.equal((await put("successor", body(ns))).status, 201);
  });

  test("of two concurrent registrations of the same namespace and queue, exactly one is created", async () => {
    fresh();
    const ns = "race.servicebus.windows.net";
    const results = await Promise.all(["racer-a", "racer-b", "racer-c"].map((t) => put(t, body(ns))));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409, 409], JSON.stringify(results.map((r) => r.body)));
    const winners = (await store.listAll()).map((t) => t.name);
    assert.equal(winners.length, 1);
  });
});

describe("a claim left behind by a writer that stopped halfway", () => {
  test("holds its queue for a minute, then is taken over when its holder does not use the queue", async () => {
    counter += 1;
    const client = createTableClient(azurite.connectionString, `claimsstale${counter}`);
    let now = new Date("2026-01-01T00:00:00Z");
    const staleStore = new TenantStore(client, () => now);
    await staleStore.list(); // creates the table
    const ref = { namespace: "Stale.servicebus.windows.net", queue: "commands" };
    // A registration of "ghost" that claimed its queues and never wrote its row.
    await new QueueClaims(
      client,
      async () => false,
      () => now,
    ).claim("ghost", [ref, { ...ref, queue: "status" }]);
    const input = registrationInputSchema.parse(body("stale.servicebus.windows.net"));
    await assert.rejects(staleStore.put("successor", input), (e: unknown) => {
      assert.ok(e instanceof QueueTakenError);
      assert.equal(e.holder, "ghost");
      return true;
    });
    now = new Date(now.getTime() + STALE_CLAIM_MS + 1000);
    const { created } = await staleStore.put("successor", input);
    assert.equal(created, true);
    // And now the successor holds it: the ghost's late write would be refused.
    await assert.rejects(staleStore.put("ghost", input), QueueTakenError);
  });
});
