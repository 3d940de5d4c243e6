/** Labels, the `selector` list filter and maintenance windows through the tenant API, on a real Azurite. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HttpHandler, HttpResponseInit } from "@azure/functions";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { loadSettings } from "../../../lib/config/settings";
import { createTableClient } from "../../../lib/storage/tables";
import { createTenantHandlers, TenantApiDeps } from "../../../lib/tenants/http";
import { TenantStore } from "../../../lib/tenants/store";
import { parseSelector } from "../../../lib/tenants/selector";
import { DeploymentLedger } from "../../../lib/deployments/ledger";
import { makeContext, makeRequest, readResponse, RequestSpec } from "../../helpers/http";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

const body = (extra: Record<string, unknown> = {}) => ({
  directoryId: "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f",
  serviceBus: { namespace: "contoso-deploy.servicebus.windows.net" },
  ...extra,
});

let azurite: RunningAzurite;
let deps: TenantApiDeps;
let handlers: ReturnType<typeof createTenantHandlers>;

async function call(handler: HttpHandler, spec: RequestSpec) {
  return readResponse((await handler(makeRequest(spec), makeContext())) as HttpResponseInit);
}
/** Each tenant on its own namespace: no two registrations may share a namespace and queue. */
const ownNamespace = (tenant: string, b: unknown) =>
  b && typeof b === "object" && "serviceBus" in b
    ? { ...b, serviceBus: { namespace: `${tenant}.servicebus.windows.net` } }
    : b;
const put = (tenant: string, b: unknown) =>
  call(handlers.put, { method: "PUT", params: { tenant }, body: ownNamespace(tenant, b) });
const names = async (query: Record<string, string>) => {
  const res = await call(handlers.list, { query });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { items: { name: string }[] }).items.map((i) => i.name).sort();
};

function fieldsOf(res: { status: number; headers: Record<string, string>; body: unknown }): string[] {
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.headers["content-type"], "application/problem+json");
  return ((res.body as { errors?: { field: string }[] }).errors ?? []).map((e) => e.field);
}

before(async () => {
  azurite = await startAzurite();
  deps = {
    settings: loadSettings({ AzureWebJobsStorage: AZURITE }),
    store: new TenantStore(createTableClient(azurite.connectionString, "tenantslabels")),
    ledger: new DeploymentLedger(createTableClient(azurite.connectionString, "deploymentslabels")),
  };
  handlers = createTenantHandlers(() => deps);
});
after(async () => {
  await azurite.stop();
});

describe("labels and maintenance windows on the registration", () => {
  test("default to {} and [], are stored, and come back in PUT and GET", async () => {
    const plain = await put("plain", body());
    assert.equal(plain.status, 201);
    assert.deepEqual((plain.body as { labels: unknown }).labels, {});
    assert.deepEqual((plain.body as { maintenanceWindows: unknown }).maintenanceWindows, []);

    const labels = { ring: "beta", region: "eu", "example.com/tier": "" };
    const windows = [{ cron: "0 22 * * 1-5", durationMinutes: 240, timeZone: "Europe/Berlin" }];
    const created = await put("labelled", body({ labels, maintenanceWindows: windows }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const got = await call(handlers.get, { params: { tenant: "labelled" } });
    assert.deepEqual((got.body as { labels: unknown }).labels, labels);
    assert.deepEqual((got.body as { maintenanceWindows: unknown }).maintenanceWindows, windows);
    assert.deepEqual((await deps.store.require("labelled")).labels, labels);
  });

  test("bad labels and windows are 400 naming the field", async () => {
    assert.deepEqual(fieldsOf(await put("bad", body({ labels: { "-ring": "x" } }))), ["labels.-ring"]);
    assert.deepEqual(fieldsOf(await put("bad", body({ labels: { ring: "not ok" } }))), ["labels.ring"]);
    assert.deepEqual(fieldsOf(await put("bad", body({ labels: { ring: 3 } }))), ["labels.ring"]);
    assert.deepEqual(fieldsOf(await put("bad", body({ labels: ["ring"] }))), ["labels"]);
    const windows = [
      { cron: "0 2 * * 6", durationMinutes: 60, timeZone: "UTC" },
      { cron: "every night", durationMinutes: 60, timeZone: "Europe/Nowhere" },
    ];
    assert.deepEqual(fieldsOf(await put("bad", body({ maintenanceWindows: windows }))).sort(), [
      "maintenanceWindows[1].cron",
      "maintenanceWindows[1].timeZone",
    ]);
    assert.deepEqual(
      fieldsOf(await put("bad", body({ maintenanceWindows: [{ cron: "0 2 * * 6", durationMinutes: 0 }] }))),
      ["maintenanceWindows[0].durationMinutes"],
    );
    assert.deepEqual(
      fieldsOf(
        await put("bad", body({ maintenanceWindows: [{ cron: "0 2 * * 6", durationMinutes: 5, x: 1 }] })),
      ),
      ["maintenanceWindows[0].x"],
    );
    assert.equal(await deps.store.get("bad"), undefined);
  });
});

describe("GET /api/tenants?selector=", () => {
  before(async () => {
    for (const [name, labels] of [
      ["sel-canary-eu", { ring: "canary", region: "eu" }],
      ["sel-canary-us", { ring: "canary", region: "us" }],
      ["sel-prod-eu", { ring: "prod", region: "eu" }],
      ["sel-none", {}],
    ] as const)
      assert.equal((await put(name, body({ labels }))).status, 201);
  });

  test("filters the list (every operator), across pages", async () => {
    const only = (xs: string[]) => xs.filter((n) => n.startsWith("sel-"));
    assert.deepEqual(only(await names({ selector: "ring=canary" })), ["sel-canary-eu", "sel-canary-us"]);
    assert.deepEqual(only(await names({ selector: "ring==canary,region=eu" })), ["sel-canary-eu"]);
    assert.deepEqual(only(await names({ selector: "region in (us,eu),ring!=canary" })), ["sel-prod-eu"]);
    assert.deepEqual(only(await names({ selector: "region notin (eu)" })), ["sel-canary-us", "sel-none"]);
    assert.deepEqual(only(await names({ selector: "!ring" })), ["sel-none"]);
    assert.deepEqual(only(await names({ selector: "ring" })), [
      "sel-canary-eu",
      "sel-canary-us",
      "sel-prod-eu",
    ]);
    // Page by page, a selector still reaches every match exactly once.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const res = await call(handlers.list, {
        query: { selector: "ring=canary", top: "1", ...(token ? { continuationToken: token } : {}) },
      });
      const page = res.body as { items: { name: string }[]; continuationToken?: string };
      seen.push(...page.items.map((i) => i.name));
      token = page.continuationToken;
    } while (token);
    assert.deepEqual(seen.sort(), ["sel-canary-eu", "sel-canary-us"]);
  });

  test("the selector arrives URL-encoded through a real URL", async () => {
    const res = await call(handlers.list, {
      url: `http://localhost:7071/api/tenants?selector=${encodeURIComponent("region in (eu),ring=prod")}`,
      query: { selector: "region in (eu),ring=prod" },
    });
    assert.deepEqual(
      (res.body as { items: { name: string }[] }).items.map((i) => i.name),
      ["sel-prod-eu"],
    );
  });

  test("a bad selector is 400 problem+json naming selector, with where and why", async () => {
    for (const bad of ["ring in eu", "ring>1", "ring=canary,", "-x"]) {
      const res = await call(handlers.list, { query: { selector: bad } });
      assert.deepEqual(fieldsOf(res), ["selector"], bad);
      const message = (res.body as { errors: { message: string }[] }).errors[0].message;
      assert.match(message, /is not a label selector: .* at position \d+/);
    }
  });

  test("TenantStore.listAll pages through every registration and applies the selector", async () => {
    const all = await deps.store.listAll();
    assert.ok(all.length >= 6);
    const canary = await deps.store.listAll(parseSelector("ring=canary"));
    assert.deepEqual(
      canary.map((t) => t.name),
      ["sel-canary-eu", "sel-canary-us"],
    );
  });
});
