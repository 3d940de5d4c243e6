import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HttpHandler, HttpResponseInit } from "@azure/functions";
import { startAzurite, RunningAzurite } from "../../../dev/azurite";
import { loadSettings, ProviderSettings } from "../../../lib/config/settings";
import { createTableClient } from "../../../lib/storage/tables";
import { createTenantHandlers, TenantApiDeps } from "../../../lib/tenants/http";
import { TenantStore } from "../../../lib/tenants/store";
import { DeploymentLedger } from "../../../lib/deployments/ledger";
import { deploymentInstanceId } from "../../../lib/deployments/contract";
import { makeContext, makeRequest, readResponse, RequestSpec } from "../../helpers/http";
import { localSigningKey, publicKeySet } from "../../../lib/signing/keys";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

const DIRECTORY = "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f";
const validBody = () => ({
  directoryId: DIRECTORY,
  displayName: "Contoso",
  serviceBus: { namespace: "contoso-deploy.servicebus.windows.net" },
});

let azurite: RunningAzurite;
type Deps = TenantApiDeps & { ledger: DeploymentLedger };
let deps: Deps;
let handlers: ReturnType<typeof createTenantHandlers>;
let tableCounter = 0;

function freshDeps(settings: ProviderSettings = loadSettings({ AzureWebJobsStorage: AZURITE })): Deps {
  tableCounter += 1;
  return {
    settings,
    store: new TenantStore(createTableClient(azurite.connectionString, `tenants${tableCounter}`)),
    ledger: new DeploymentLedger(createTableClient(azurite.connectionString, `deployments${tableCounter}`)),
  };
}

async function call(handler: HttpHandler, spec: RequestSpec) {
  const response = (await handler(makeRequest(spec), makeContext())) as HttpResponseInit;
  return readResponse(response);
}

const SHARED_NAMESPACE = validBody().serviceBus.namespace;
/**
 * No two registrations may share a namespace and queue: a tenant other than contoso that uses the
 * fixture's namespace gets one of its own (`<tenant>.servicebus.windows.net`).
 */
function ownNamespace(tenant: string, body: unknown): unknown {
  const b = body as { serviceBus?: { namespace?: unknown } } | undefined;
  if (tenant === "contoso" || b?.serviceBus?.namespace !== SHARED_NAMESPACE) return body;
  return { ...b, serviceBus: { ...b.serviceBus, namespace: `${tenant}.servicebus.windows.net` } };
}

const put = (tenant: string, body: unknown, headers: Record<string, string> = {}) =>
  call(handlers.put, { method: "PUT", params: { tenant }, body: ownNamespace(tenant, body), headers });

function assertProblem(
  res: { status: number; headers: Record<string, string>; body: unknown },
  status: number,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.headers["content-type"], "application/problem+json");
  const body = res.body as { status: number; title: string; detail?: string };
  assert.equal(body.status, status);
  assert.ok(body.title);
  return body;
}

function assertFieldError(
  res: { status: number; headers: Record<string, string>; body: unknown },
  field: string,
) {
  assertProblem(res, 400);
  const errors = (res.body as { errors?: { field: string }[] }).errors ?? [];
  assert.ok(
    errors.some((e) => e.field === field),
    `expected an error on "${field}", got ${JSON.stringify(errors)}`,
  );
}

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

describe("tenant registry round trip through Azurite", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  test("PUT creates (201, ETag, Location) with defaults, GET returns it, PUT again replaces (200)", async () => {
    const created = await put("contoso", validBody());
    assert.equal(created.status, 201);
    assert.ok(created.headers.etag);
    assert.equal(created.headers.location, "/api/tenants/contoso");
    const body = created.body as Record<string, unknown>;
    assert.deepEqual(body.serviceBus, {
      namespace: "contoso-deploy.servicebus.windows.net",
      commandQueue: "commands",
      statusQueue: "status",
    });
    assert.deepEqual(body.auth, { mode: "federatedManagedIdentity" });
    assert.deepEqual(body.limits, {
      maxConcurrentDeployments: 10,
      acceptanceTimeoutSeconds: 120,
      completionTimeoutSeconds: 3600,
    });
    assert.equal(body.state, "active");

    const got = await call(handlers.get, { params: { tenant: "contoso" } });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, created.body);
    assert.equal(got.headers.etag, created.headers.etag);

    const replaced = await put("contoso", {
      ...validBody(),
      auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
      state: "suspended",
    });
    assert.equal(replaced.status, 200);
    const rb = replaced.body as Record<string, unknown>;
    assert.deepEqual(rb.auth, { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" });
    assert.equal(rb.state, "suspended");
    assert.equal(rb.createdAt, body.createdAt);
    assert.notEqual(replaced.headers.etag, created.headers.etag);
  });

  test("namespace is normalised to lower case and the directory id is stored lower case", async () => {
    const res = await put("fabrikam", {
      directoryId: DIRECTORY.toUpperCase(),
      serviceBus: { namespace: "Fabrikam.ServiceBus.Windows.Net", commandQueue: "deploy/commands" },
    });
    assert.equal(res.status, 201);
    const body = res.body as { directoryId: string; serviceBus: { namespace: string; commandQueue: string } };
    assert.equal(body.directoryId, DIRECTORY);
    assert.equal(body.serviceBus.namespace, "fabrikam.servicebus.windows.net");
    assert.equal(body.serviceBus.commandQueue, "deploy/commands");
  });

  test("DELETE removes (204), then GET and DELETE are 404 problem+json", async () => {
    assert.equal((await put("to-delete", validBody())).status, 201);
    assert.equal(
      (await call(handlers.delete, { method: "DELETE", params: { tenant: "to-delete" } })).status,
      204,
    );
    assertProblem(await call(handlers.get, { params: { tenant: "to-delete" } }), 404);
    assertProblem(await call(handlers.delete, { method: "DELETE", params: { tenant: "to-delete" } }), 404);
  });
});

describe("deletion while deployments are in flight", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  test("DELETE is 409 while a deployment is active and succeeds once it completes", async () => {
    assert.equal((await put("busy", validBody())).status, 201);
    const now = new Date().toISOString();
    await deps.ledger.create({
      id: "dep-1",
      tenant: "busy",
      attempt: 1,
      instanceId: deploymentInstanceId("busy", "dep-1", 1),
      phase: "Sent",
      progress: 0,
      specDigest: "sha256:x",
      requestedAt: now,
      updatedAt: now,
    });
    const refused = await call(handlers.delete, { method: "DELETE", params: { tenant: "busy" } });
    assertProblem(refused, 409);
    assert.match((refused.body as { detail: string }).detail, /1 deployment\(s\) in flight/);
    await deps.ledger.complete("busy", "dep-1", 1, "Succeeded");
    assert.equal((await call(handlers.delete, { method: "DELETE", params: { tenant: "busy" } })).status, 204);
  });
});

describe("optimistic concurrency", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  test("two concurrent writers with the same If-Match: exactly one wins, the other gets 412", async () => {
    const created = await put("race", validBody());
    const etag = created.headers.etag as string;
    const results = await Promise.all([
      put("race", { ...validBody(), displayName: "Writer A" }, { "if-match": etag }),
      put("race", { ...validBody(), displayName: "Writer B" }, { "if-match": etag }),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 412]);
    const loser = results.find((r) => r.status === 412)!;
    assertProblem(loser, 412);
    const winner = results.find((r) => r.status === 200)!;
    const got = await call(handlers.get, { params: { tenant: "race" } });
    assert.equal(
      (got.body as { displayName: string }).displayName,
      (winner.body as { displayName: string }).displayName,
    );
  });

  test("a stale ETag is refused with 412 and changes nothing", async () => {
    const first = await put("stale", validBody());
    await put(
      "stale",
      { ...validBody(), displayName: "Second" },
      { "if-match": first.headers.etag as string },
    );
    const stale = await put(
      "stale",
      { ...validBody(), displayName: "Third" },
      { "if-match": first.headers.etag as string },
    );
    assertProblem(stale, 412);
    const got = await call(handlers.get, { params: { tenant: "stale" } });
    assert.equal((got.body as { displayName: string }).displayName, "Second");
  });

  test("If-None-Match: * is create-only; If-Match: * requires existence; DELETE honours If-Match", async () => {
    assert.equal((await put("cond", validBody(), { "if-none-match": "*" })).status, 201);
    assertProblem(await put("cond", validBody(), { "if-none-match": "*" }), 412);
    assertProblem(await put("absent", validBody(), { "if-match": "*" }), 412);
    assert.equal((await put("cond", validBody(), { "if-match": "*" })).status, 200);
    assertProblem(
      await call(handlers.delete, {
        method: "DELETE",
        params: { tenant: "cond" },
        headers: { "if-match": 'W/"nope"' },
      }),
      412,
    );
    assertFieldError(await put("cond", validBody(), { "if-none-match": 'W/"x"' }), "If-None-Match");
  });
});

describe("listing with paging", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  test("top and continuationToken walk every registration exactly once", async () => {
    const names = ["alpha", "bravo", "charlie", "delta", "echo"];
    for (const name of names) assert.equal((await put(name, validBody())).status, 201);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await call(handlers.list, {
        query: { top: "2", ...(token ? { continuationToken: token } : {}) },
      });
      assert.equal(res.status, 200);
      const body = res.body as { items: { name: string }[]; continuationToken?: string };
      assert.ok(body.items.length <= 2);
      seen.push(...body.items.map((i) => i.name));
      token = body.continuationToken;
      pages += 1;
    } while (token && pages < 10);
    assert.deepEqual(seen.sort(), names);
    assert.ok(pages >= 3);
  });

  test("bad paging parameters are 400 naming the parameter", async () => {
    assertFieldError(await call(handlers.list, { query: { top: "0" } }), "top");
    assertFieldError(await call(handlers.list, { query: { top: "abc" } }), "top");
    assertFieldError(await call(handlers.list, { query: { top: "5000" } }), "top");
  });

  test("a continuation token the API did not hand out is 400 naming it, never a 500", async () => {
    const first = await call(handlers.list, { query: { top: "2" } });
    const token = (first.body as { continuationToken: string }).continuationToken;
    const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
    for (const bad of [
      "garbage",
      token.slice(0, -2),
      json(null),
      json({ nextPartitionKey: 1 }),
      json({ nextPartitionKey: "tenant", nextRowKey: "x", more: true }),
    ]) {
      assertFieldError(await call(handlers.list, { query: { continuationToken: bad } }), "continuationToken");
    }
  });
});

describe("validation: every rule names its field", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  const cases: { name: string; tenant?: string; body: unknown; field: string }[] = [
    { name: "slug with upper case", tenant: "Contoso", body: validBody(), field: "tenant" },
    { name: "slug too short", tenant: "ab", body: validBody(), field: "tenant" },
    { name: "slug with trailing hyphen", tenant: "contoso-", body: validBody(), field: "tenant" },
    { name: "slug with underscore", tenant: "con_toso", body: validBody(), field: "tenant" },
    { name: "slug too long", tenant: "a".repeat(64), body: validBody(), field: "tenant" },
    {
      name: "directory id not a GUID",
      body: { ...validBody(), directoryId: "contoso.onmicrosoft.com" },
      field: "directoryId",
    },
    { name: "directory id missing", body: { serviceBus: validBody().serviceBus }, field: "directoryId" },
    {
      name: "namespace not an FQDN",
      body: { ...validBody(), serviceBus: { namespace: "contoso" } },
      field: "serviceBus.namespace",
    },
    {
      name: "namespace outside the allow-list",
      body: { ...validBody(), serviceBus: { namespace: "evil.example.com" } },
      field: "serviceBus.namespace",
    },
    {
      name: "namespace equal to the bare suffix",
      body: { ...validBody(), serviceBus: { namespace: "servicebus.windows.net.evil.com" } },
      field: "serviceBus.namespace",
    },
    {
      name: "namespace with a port",
      body: { ...validBody(), serviceBus: { namespace: "contoso.servicebus.windows.net:443" } },
      field: "serviceBus.namespace",
    },
    { name: "serviceBus missing", body: { directoryId: DIRECTORY }, field: "serviceBus" },
    { name: "network not a mode", body: { ...validBody(), network: "vpn" }, field: "network" },
    { name: "network not a string", body: { ...validBody(), network: true }, field: "network" },
    {
      // Its private endpoint is named sb-<tenant>, and a private endpoint's name has at most 64 characters.
      name: "a private tenant's name longer than 61 characters",
      tenant: "p".repeat(62),
      body: { ...validBody(), network: "private" },
      field: "network",
    },
    {
      name: "queue name with a space",
      body: { ...validBody(), serviceBus: { ...validBody().serviceBus, commandQueue: "my queue" } },
      field: "serviceBus.commandQueue",
    },
    {
      name: "queue name starting with a slash",
      body: { ...validBody(), serviceBus: { ...validBody().serviceBus, statusQueue: "/status" } },
      field: "serviceBus.statusQueue",
    },
    {
      name: "queue name too long",
      body: { ...validBody(), serviceBus: { ...validBody().serviceBus, statusQueue: "q".repeat(261) } },
      field: "serviceBus.statusQueue",
    },
    { name: "unknown auth mode", body: { ...validBody(), auth: { mode: "password" } }, field: "auth.mode" },
    {
      name: "sas without its setting",
      body: { ...validBody(), auth: { mode: "sas" } },
      field: "auth.sasSetting",
    },
    {
      name: "setting name with a space",
      body: { ...validBody(), auth: { mode: "clientSecret", secretSetting: "MY SECRET" } },
      field: "auth.secretSetting",
    },
    {
      name: "certificate without its setting",
      body: { ...validBody(), auth: { mode: "certificate" } },
      field: "auth.certificateSetting",
    },
    // A registration may name only settings with the tenant prefix (REGISTRATION_SETTING_PREFIX).
    {
      name: "certificate setting naming the Provider's storage (outside the prefix)",
      body: { ...validBody(), auth: { mode: "certificate", certificateSetting: "AzureWebJobsStorage" } },
      field: "auth.certificateSetting",
    },
    {
      name: "sas setting outside the prefix",
      body: { ...validBody(), auth: { mode: "sas", sasSetting: "CONTOSO_SAS" } },
      field: "auth.sasSetting",
    },
    {
      name: "client secret setting outside the prefix",
      body: { ...validBody(), auth: { mode: "clientSecret", secretSetting: "WEBSITE_AUTH_ENCRYPTION_KEY" } },
      field: "auth.secretSetting",
    },
    {
      name: "the bare prefix as a setting name",
      body: { ...validBody(), auth: { mode: "sas", sasSetting: "TENANT_" } },
      field: "auth.sasSetting",
    },
    {
      name: "sas key inline",
      body: { ...validBody(), auth: { mode: "sas", sasSetting: "S", key: "abc" } },
      field: "auth.key",
    },
    {
      name: "sharedAccessKey inline",
      body: { ...validBody(), auth: { mode: "sas", sharedAccessKey: "abc" } },
      field: "auth.sharedAccessKey",
    },
    {
      name: "connection string inline",
      body: {
        ...validBody(),
        serviceBus: { ...validBody().serviceBus, connectionString: "Endpoint=sb://x/;SharedAccessKey=abc" },
      },
      field: "serviceBus.connectionString",
    },
    {
      name: "client secret inline",
      body: { ...validBody(), auth: { mode: "clientSecret", secretSetting: "S", clientSecret: "abc" } },
      field: "auth.clientSecret",
    },
    {
      name: "SAS token smuggled as a setting name value",
      body: { ...validBody(), displayName: "SharedAccessSignature sr=x&sig=y&se=1&skn=k" },
      field: "displayName",
    },
    { name: "unknown top-level field", body: { ...validBody(), color: "blue" }, field: "color" },
    {
      name: "unknown nested field",
      body: { ...validBody(), limits: { retries: 3 } },
      field: "limits.retries",
    },
    {
      name: "limit too high",
      body: { ...validBody(), limits: { maxConcurrentDeployments: 5000 } },
      field: "limits.maxConcurrentDeployments",
    },
    {
      name: "limit fractional",
      body: { ...validBody(), limits: { acceptanceTimeoutSeconds: 1.5 } },
      field: "limits.acceptanceTimeoutSeconds",
    },
    { name: "bad state", body: { ...validBody(), state: "paused" }, field: "state" },
    {
      name: "the same queue for commands and statuses",
      body: {
        ...validBody(),
        serviceBus: { ...validBody().serviceBus, commandQueue: "q", statusQueue: "Q" },
      },
      field: "serviceBus.statusQueue",
    },
    {
      name: "acceptance timeout longer than completion",
      body: { ...validBody(), limits: { acceptanceTimeoutSeconds: 600, completionTimeoutSeconds: 60 } },
      field: "limits.acceptanceTimeoutSeconds",
    },
    {
      name: "acceptance timeout alone, longer than the default completion",
      body: { ...validBody(), limits: { acceptanceTimeoutSeconds: 7200 } },
      field: "limits.acceptanceTimeoutSeconds",
    },
    {
      name: "completion timeout alone, shorter than the default acceptance",
      body: { ...validBody(), limits: { completionTimeoutSeconds: 60 } },
      field: "limits.completionTimeoutSeconds",
    },
    { name: "empty display name", body: { ...validBody(), displayName: "   " }, field: "displayName" },
  ];

  for (const c of cases) {
    test(`${c.name} → 400 on ${c.field}`, async () => {
      assertFieldError(await put(c.tenant ?? "valid-name", c.body), c.field);
    });
  }

  test("nothing invalid was stored", async () => {
    const res = await call(handlers.list, {});
    assert.deepEqual((res.body as { items: unknown[] }).items, []);
  });
});

describe("the tenant setting prefix (REGISTRATION_SETTING_PREFIX)", () => {
  test("a configured prefix is the rule: its settings are accepted, others → 400 naming the field and the prefix", async () => {
    handlers = createTenantHandlers(() =>
      freshDeps(loadSettings({ AzureWebJobsStorage: AZURITE, REGISTRATION_SETTING_PREFIX: "CUSTOMER_" })),
    );
    const ok = await put("prefixed", {
      ...validBody(),
      auth: { mode: "sas", sasSetting: "CUSTOMER_CONTOSO_SAS" },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const bad = await put("prefixed", {
      ...validBody(),
      auth: { mode: "sas", sasSetting: "TENANT_CONTOSO_SAS" },
    });
    assertFieldError(bad, "auth.sasSetting");
    assert.match(JSON.stringify(bad.body), /CUSTOMER_/);
    assert.match(JSON.stringify(bad.body), /REGISTRATION_SETTING_PREFIX/);
  });
});

describe("malformed requests never produce a 500", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  const json = { "content-type": "application/json" };
  const cases: { name: string; spec: RequestSpec; status: number }[] = [
    { name: "no body", spec: { headers: json }, status: 400 },
    { name: "invalid JSON", spec: { rawBody: "{", headers: json }, status: 400 },
    { name: "JSON null", spec: { rawBody: "null", headers: json }, status: 400 },
    { name: "JSON array", spec: { rawBody: "[1,2]", headers: json }, status: 400 },
    { name: "JSON string", spec: { rawBody: '"hello"', headers: json }, status: 400 },
    { name: "JSON number", spec: { rawBody: "42", headers: json }, status: 400 },
    {
      name: "nulls everywhere",
      spec: { body: { directoryId: null, serviceBus: null, auth: null } },
      status: 400,
    },
    {
      name: "wrong types",
      spec: { body: { directoryId: 1, serviceBus: { namespace: [] }, limits: "x" } },
      status: 400,
    },
    {
      name: "text/plain",
      spec: { rawBody: JSON.stringify(validBody()), headers: { "content-type": "text/plain" } },
      status: 415,
    },
    { name: "no content type", spec: { rawBody: JSON.stringify(validBody()) }, status: 415 },
    {
      name: "form body",
      spec: { rawBody: "a=b", headers: { "content-type": "application/x-www-form-urlencoded" } },
      status: 415,
    },
    {
      name: "body over 64 KB",
      spec: { body: { ...validBody(), displayName: "x".repeat(70_000) } },
      status: 413,
    },
    {
      name: "declared content-length over the limit",
      spec: { body: validBody(), headers: { ...json, "content-length": "99999999" } },
      status: 413,
    },
    {
      name: "invalid UTF-8",
      spec: { rawBody: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), headers: json },
      status: 400,
    },
    {
      name: "deeply nested JSON",
      spec: { rawBody: "[".repeat(5000) + "]".repeat(5000), headers: json },
      status: 400,
    },
    {
      name: "proto pollution key",
      spec: { rawBody: '{"__proto__":{"admin":true}}', headers: json },
      status: 400,
    },
    {
      name: "unicode look-alike slug",
      spec: { params: { tenant: "cоntoso" }, body: validBody() },
      status: 400,
    },
    {
      name: "slug with a null byte",
      spec: { params: { tenant: "con\u0000toso" }, body: validBody() },
      status: 400,
    },
    {
      name: "slug with path traversal",
      spec: { params: { tenant: "../etc" }, body: validBody() },
      status: 400,
    },
    { name: "empty slug", spec: { params: { tenant: "" }, body: validBody() }, status: 400 },
    {
      name: "directoryId GUID with braces",
      spec: { body: { ...validBody(), directoryId: `{${DIRECTORY}}` } },
      status: 400,
    },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const spec: RequestSpec = { method: "PUT", params: { tenant: "malformed" }, ...c.spec };
      assertProblem(await call(handlers.put, spec), c.status);
    });
  }

  test("duplicate JSON keys are handled (last wins) without a 500", async () => {
    const raw = `{"directoryId":"x","directoryId":"${DIRECTORY}","serviceBus":{"namespace":"dup.servicebus.windows.net"}}`;
    const res = await call(handlers.put, {
      method: "PUT",
      params: { tenant: "dupkeys" },
      rawBody: raw,
      headers: json,
    });
    assert.equal(res.status, 201);
  });

  test("a storage failure is a 500 carrying only a correlation id", async () => {
    const broken = createTenantHandlers(() => ({
      ...freshDeps(),
      settings: loadSettings({ AzureWebJobsStorage: AZURITE }),
      store: new TenantStore(
        createTableClient(
          "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;",
          "tenants",
        ),
      ),
    }));
    const res = await call(broken.get, { params: { tenant: "contoso" } });
    assertProblem(res, 500);
    const body = res.body as { detail: string; correlationId?: string };
    assert.ok(body.correlationId);
    assert.doesNotMatch(JSON.stringify(body), /AccountKey|ECONNREFUSED|127\.0\.0\.1/);
  });
});

describe("role check on the EasyAuth principal", () => {
  const principal = (roles: string[]) =>
    Buffer.from(
      JSON.stringify({ auth_typ: "aad", claims: roles.map((val) => ({ typ: "roles", val })) }),
    ).toString("base64");

  before(() => {
    deps = freshDeps(
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        AUTH_REQUIRE_ROLES: "true",
        WEBSITE_AUTH_ENABLED: "True",
      }),
    );
    handlers = createTenantHandlers(() => deps);
  });

  test("no principal → 401, malformed → 401, missing role → 403, right role → success", async () => {
    assertProblem(await put("roles", validBody()), 401);
    assertProblem(await put("roles", validBody(), { "x-ms-client-principal": "%%%not-base64" }), 401);
    assertProblem(
      await put("roles", validBody(), { "x-ms-client-principal": principal(["Tenants.Read"]) }),
      403,
    );
    const ok = await put("roles", validBody(), { "x-ms-client-principal": principal(["Tenants.Admin"]) });
    assert.equal(ok.status, 201);
    const read = await call(handlers.get, {
      params: { tenant: "roles" },
      headers: { "x-ms-client-principal": principal(["Tenants.Read"]) },
    });
    assert.equal(read.status, 200);
    assertProblem(
      await call(handlers.delete, {
        method: "DELETE",
        params: { tenant: "roles" },
        headers: { "x-ms-client-principal": principal(["Tenants.Read"]) },
      }),
      403,
    );
  });
});

describe("role checks without App Service Authentication", () => {
  before(() => {
    // The platform's variable is absent here whatever the machine's environment: settings are injected.
    deps = freshDeps(loadSettings({ AzureWebJobsStorage: AZURITE, AUTH_REQUIRE_ROLES: "true" }));
    handlers = createTenantHandlers(() => deps);
  });

  test("every request is a 503 naming the settings, even with a forged admin principal; nothing is written", async () => {
    const forged = Buffer.from(
      JSON.stringify({ auth_typ: "aad", claims: [{ typ: "roles", val: "Tenants.Admin" }] }),
    ).toString("base64");
    const res = await put("forged", validBody(), { "x-ms-client-principal": forged });
    const problem = assertProblem(res, 503);
    assert.match(String(problem.title), /App Service Authentication is not enabled/);
    assert.match(String(problem.detail), /AUTH_REQUIRE_ROLES/);
    assert.match(String(problem.detail), /WEBSITE_AUTH_ENABLED/);
    assertProblem(await call(handlers.get, { params: { tenant: "forged" } }), 503);
    assert.equal(await deps.store.get("forged"), undefined);
  });
});

describe("network mode", () => {
  before(() => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
  });

  test("absent is public; private is stored and shown by PUT, GET and the list", async () => {
    const plain = await put("plainco", validBody());
    assert.equal(plain.status, 201);
    assert.equal((plain.body as { network: string }).network, "public");
    const priv = await put("privco", { ...validBody(), network: "private" });
    assert.equal(priv.status, 201, JSON.stringify(priv.body));
    assert.equal((priv.body as { network: string }).network, "private");
    const got = await call(handlers.get, { params: { tenant: "privco" } });
    assert.equal((got.body as { network: string }).network, "private");
    const list = (await call(handlers.list, {})).body as { items: { name: string; network: string }[] };
    assert.deepEqual(
      list.items.map((t) => `${t.name} ${t.network}`),
      ["plainco public", "privco private"],
    );
    // A 61-character name is the longest a private tenant may have.
    assert.equal((await put("p".repeat(61), { ...validBody(), network: "private" })).status, 201);
  });
});

describe("onboarding instructions", () => {
  test("503 without the Provider app id, then the consent URL and least-privilege az commands", async () => {
    deps = freshDeps();
    handlers = createTenantHandlers(() => deps);
    // The fixture's namespace as is (fresh deps: nobody else holds it).
    const registered = await call(handlers.put, {
      method: "PUT",
      params: { tenant: "onboard" },
      body: validBody(),
    });
    assert.equal(registered.status, 201);
    assertProblem(await call(handlers.onboarding, { params: { tenant: "onboard" } }), 503);

    const appId = "11111111-2222-3333-4444-555555555555";
    deps = {
      ...deps,
      settings: loadSettings({ AzureWebJobsStorage: AZURITE, PROVIDER_APP_CLIENT_ID: appId }),
    };
    const res = await call(handlers.onboarding, { params: { tenant: "onboard" } });
    assert.equal(res.status, 200);
    const body = res.body as {
      adminConsentUrl: string;
      commands: string[];
      roleAssignments: { role: string; queue: string }[];
    };
    assert.equal(
      body.adminConsentUrl,
      `https://login.microsoftonline.com/${DIRECTORY}/adminconsent?client_id=${appId}`,
    );
    assert.deepEqual(body.roleAssignments, [
      { role: "Azure Service Bus Data Sender", queue: "commands" },
      { role: "Azure Service Bus Data Receiver", queue: "status" },
    ]);
    const script = body.commands.join("\n");
    assert.match(script, /az ad sp show --id 11111111-2222-3333-4444-555555555555/);
    assert.match(script, /--role 'Azure Service Bus Data Sender' --scope "\$COMMAND_QUEUE_ID"/);
    assert.match(script, /--role 'Azure Service Bus Data Receiver' --scope "\$STATUS_QUEUE_ID"/);
    assert.match(script, /--namespace-name 'contoso-deploy' --name 'commands'/);
    assert.doesNotMatch(script, /Data Owner/);
    assert.equal(
      (res.body as { agentSettings?: unknown }).agentSettings,
      undefined,
      "nothing signed, nothing to pin",
    );
    // A Provider that signs its commands hands the customer what its agent pins.
    const key = await localSigningKey(
      generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
        type: "pkcs8",
        format: "pem",
      }) as string,
      "test",
    );
    deps = { ...deps, signingKeys: async () => [key] };
    const pinned = (await call(handlers.onboarding, { params: { tenant: "onboard" } })).body as {
      agentSettings: { AGENT_TENANT: string; PROVIDER_SIGNING_KEYS: string };
    };
    assert.equal(pinned.agentSettings.AGENT_TENANT, "onboard");
    assert.deepEqual(JSON.parse(pinned.agentSettings.PROVIDER_SIGNING_KEYS), await publicKeySet([key]));
    assertProblem(await call(handlers.onboarding, { params: { tenant: "missing" } }), 404);
    assert.equal((res.body as { network: string }).network, "public");
    assert.equal(
      (res.body as { privateEndpoint?: unknown }).privateEndpoint,
      undefined,
      "public: no approval",
    );
  });

  test("a private tenant's onboarding names the Provider's private endpoint and the az commands that approve it", async () => {
    const appId = "11111111-2222-3333-4444-555555555555";
    const subscription = "0b0b0b0b-1111-4222-8333-444444444444";
    const group = `/subscriptions/${subscription}/resourceGroups/provider-rg`;
    deps = {
      ...freshDeps(),
      settings: loadSettings({
        AzureWebJobsStorage: AZURITE,
        PROVIDER_APP_CLIENT_ID: appId,
        PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID: group,
      }),
    };
    handlers = createTenantHandlers(() => deps);
    const registered = await call(handlers.put, {
      method: "PUT",
      params: { tenant: "privco" },
      body: { ...validBody(), network: "private" },
    });
    assert.equal(registered.status, 201);
    const body = (await call(handlers.onboarding, { params: { tenant: "privco" } })).body as {
      network: string;
      commands: string[];
      privateEndpoint: { name: string; id?: string; approvalCommands: string[] };
    };
    assert.equal(body.network, "private");
    assert.equal(body.privateEndpoint.name, "sb-privco");
    assert.equal(body.privateEndpoint.id, `${group}/providers/Microsoft.Network/privateEndpoints/sb-privco`);
    // The role assignments are the same as a public tenant's.
    assert.match(body.commands.join("\n"), /--role 'Azure Service Bus Data Sender'/);
    const script = body.privateEndpoint.approvalCommands.join("\n");
    assert.match(script, new RegExp(`^az login --tenant ${DIRECTORY}$`, "m"));
    assert.match(
      script,
      /NAMESPACE_ID=\$\(az servicebus namespace show --resource-group "\$RESOURCE_GROUP" --name 'contoso-deploy' --query id -o tsv\)/,
    );
    assert.match(script, /az network private-endpoint-connection list --id "\$NAMESPACE_ID"/);
    // Only a pending connection from this Provider's endpoint (its name, its subscription) is approved.
    const pick = body.privateEndpoint.approvalCommands.find((c) => c.startsWith("CONNECTION_ID="));
    assert.ok(pick);
    assert.match(pick, /ends_with\(properties\.privateEndpoint\.id, '\/sb-privco'\)/);
    assert.match(pick, new RegExp(`contains\\(properties\\.privateEndpoint\\.id, '/${subscription}/'\\)`));
    assert.match(pick, /status=='Pending'/);
    assert.match(
      script,
      /az network private-endpoint-connection approve --id "\$CONNECTION_ID" --description '[^']+'/,
    );
    assert.match(
      script,
      /private-endpoint-connection show --id "\$CONNECTION_ID" --query properties\.privateLinkServiceConnectionState\.status/,
    );

    // Without the Provider's resource group configured, the endpoint is named (no id) and matched by name.
    deps = {
      ...deps,
      settings: loadSettings({ AzureWebJobsStorage: AZURITE, PROVIDER_APP_CLIENT_ID: appId }),
    };
    const unnamed = (await call(handlers.onboarding, { params: { tenant: "privco" } })).body as {
      privateEndpoint: { id?: string; approvalCommands: string[] };
    };
    assert.equal(unnamed.privateEndpoint.id, undefined);
    assert.doesNotMatch(unnamed.privateEndpoint.approvalCommands.join("\n"), /subscriptions/);
  });
});
