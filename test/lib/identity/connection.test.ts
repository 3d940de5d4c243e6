import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientAssertionCredential, ClientSecretCredential } from "@azure/identity";
import { ConfigurationError, loadSettings } from "../../../lib/config/settings";
import type { TokenCredential } from "@azure/core-auth";
import {
  CrossTenantTokenError,
  CustomerConnections,
  directoryBound,
  NamespaceNotAllowedError,
} from "../../../lib/identity/connection";
import { testRegistration } from "../../helpers/tenants";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

const DIR_A = "aaaaaaaa-0000-4000-8000-00000000000a";
const DIR_B = "bbbbbbbb-0000-4000-8000-00000000000b";

const settings = loadSettings({
  AzureWebJobsStorage: AZURITE,
  PROVIDER_APP_CLIENT_ID: "11111111-2222-4333-8444-555555555555",
  PROVIDER_MANAGED_IDENTITY_CLIENT_ID: "mi-client",
});

test("one credential per customer directory: the same directory reuses it, another directory never gets it", () => {
  const c = new CustomerConnections(settings, { TENANT_SECRET_A: "a", TENANT_SECRET_B: "b" });
  const a1 = c.credentialFor(testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" }));
  const a2 = c.credentialFor(testRegistration("alpha-two", DIR_A, { mode: "federatedManagedIdentity" }));
  const b = c.credentialFor(testRegistration("bravo", DIR_B, { mode: "federatedManagedIdentity" }));
  assert.ok(a1 instanceof ClientAssertionCredential);
  assert.equal(a1, a2);
  assert.notEqual(a1, b);
  const sa = c.credentialFor(
    testRegistration("alpha", DIR_A, { mode: "clientSecret", secretSetting: "TENANT_SECRET_A" }),
  );
  const sb = c.credentialFor(
    testRegistration("bravo", DIR_B, { mode: "clientSecret", secretSetting: "TENANT_SECRET_B" }),
  );
  assert.ok(sa instanceof ClientSecretCredential);
  assert.notEqual(sa, sb);
  assert.notEqual(sa, a1, "a different auth mode is a different credential");
});

test("pool keys name the namespace and identity and never a secret", () => {
  const c = new CustomerConnections(settings, {
    TENANT_SECRET_A: "s3cr3t",
    TENANT_SAS_A: "Endpoint=sb://alpha.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k3y",
  });
  const entra = c.resolve(
    testRegistration("alpha", DIR_A, { mode: "clientSecret", secretSetting: "TENANT_SECRET_A" }),
  );
  const sas = c.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: "TENANT_SAS_A" }));
  assert.equal(entra.key, `alpha.servicebus.windows.net|${DIR_A}|clientSecret`);
  assert.equal(sas.key, "alpha.servicebus.windows.net|sas|TENANT_SAS_A");
  assert.doesNotMatch(entra.key + sas.key, /s3cr3t|k3y/);
  const conn = entra.connect();
  assert.ok(
    "fullyQualifiedNamespace" in conn && conn.fullyQualifiedNamespace === "alpha.servicebus.windows.net",
  );
  assert.ok(!("customEndpointAddress" in conn), "no endpoint override outside local mode");
});

test("a SAS for another host is refused: a key is never sent to a namespace it was not issued for", () => {
  const c = new CustomerConnections(settings, {
    TENANT_SAS_A: "Endpoint=sb://evil.servicebus.windows.net/;SharedAccessKeyName=x;SharedAccessKey=y",
  });
  assert.throws(
    () => c.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: "TENANT_SAS_A" })),
    (e: unknown) =>
      e instanceof ConfigurationError && e.setting === "TENANT_SAS_A" && !/SharedAccessKey=y/.test(e.message),
  );
});

test("missing settings name the setting; a namespace off the allow-list gets no credential", () => {
  const c = new CustomerConnections(settings, {});
  assert.throws(
    () => c.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: "TENANT_NOPE" })),
    /NOPE/,
  );
  assert.throws(
    () =>
      c.resolve(testRegistration("alpha", DIR_A, { mode: "clientSecret", secretSetting: "TENANT_MISSING" })),
    /MISSING/,
  );
  assert.throws(
    () =>
      new CustomerConnections(loadSettings({ AzureWebJobsStorage: AZURITE }), {}).resolve(
        testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" }),
      ),
    /PROVIDER_APP_CLIENT_ID/,
  );
  assert.throws(
    () =>
      c.resolve(testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" }, "alpha.example.com")),
    NamespaceNotAllowedError,
  );
});

test("local mode maps the namespace to the emulator endpoint without changing the registration", () => {
  const local = loadSettings({
    AzureWebJobsStorage: AZURITE,
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.localhost",
    DEV_SERVICEBUS_ENDPOINTS: "alpha.servicebus.localhost=sb://127.0.0.1:5999",
    PROVIDER_APP_CLIENT_ID: "app",
    PROVIDER_MANAGED_IDENTITY_CLIENT_ID: "mi",
  });
  const c = new CustomerConnections(local, {
    TENANT_SAS_A:
      "Endpoint=sb://127.0.0.1:5999;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true",
  });
  const entra = c
    .resolve(
      testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" }, "alpha.servicebus.localhost"),
    )
    .connect();
  assert.ok("customEndpointAddress" in entra);
  assert.equal(entra.customEndpointAddress, "sb://127.0.0.1:5999");
  const sas = c
    .resolve(
      testRegistration(
        "alpha",
        DIR_A,
        { mode: "sas", sasSetting: "TENANT_SAS_A" },
        "alpha.servicebus.localhost",
      ),
    )
    .connect();
  assert.ok("connectionString" in sas);
});

test("a token for another directory than the tenant's is refused before it can be used", async () => {
  const jwt = (claims: Record<string, unknown>) =>
    `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
  const issuing = (token: string): TokenCredential => ({
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }),
  });
  const own = directoryBound(issuing(jwt({ tid: DIR_A.toUpperCase() })), "alpha", DIR_A);
  assert.ok(await own.getToken("https://servicebus.azure.net/.default"), "the tenant's own directory passes");
  const foreignToken = jwt({ tid: DIR_B, secret: "do-not-log" });
  await assert.rejects(
    directoryBound(issuing(foreignToken), "alpha", DIR_A).getToken("https://servicebus.azure.net/.default"),
    (e: unknown) =>
      e instanceof CrossTenantTokenError &&
      e.tenant === "alpha" &&
      e.actualDirectoryId === DIR_B &&
      !e.message.includes(foreignToken),
  );
  await assert.rejects(
    directoryBound(issuing("opaque-token"), "alpha", DIR_A).getToken("x"),
    CrossTenantTokenError,
    "a token whose directory cannot be read is refused too",
  );
  // resolve() hands out the bound credential, not the raw one.
  const c = new CustomerConnections(settings, {});
  const conn = c.resolve(testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" })).connect();
  assert.ok("credential" in conn);
  assert.notEqual(
    conn.credential,
    c.credentialFor(testRegistration("alpha", DIR_A, { mode: "federatedManagedIdentity" })),
  );
});

// A setting's value never appears in an error (errors reach the verify answer, the health row,
// a deployment's outcome message and the logs).
const STORAGE_KEY = "c2VjcmV0LXN0b3JhZ2Uta2V5LXZhbHVlLTEyMzQ1Njc4OTA=";
const STORAGE = `DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=${STORAGE_KEY};TableEndpoint=http://127.0.0.1:1/dev;`;

test("a certificate setting holding something else names the setting, never its value", () => {
  const c = new CustomerConnections(settings, { TENANT_CERT: STORAGE });
  assert.throws(
    () =>
      c.credentialFor(
        testRegistration("alpha", DIR_A, { mode: "certificate", certificateSetting: "TENANT_CERT" }),
      ),
    (e: unknown) =>
      e instanceof ConfigurationError &&
      e.setting === "TENANT_CERT" &&
      /does not exist/.test(e.message) &&
      !e.message.includes(STORAGE_KEY) &&
      !e.message.includes("AccountName=dev"),
  );
});

test("a stored registration from before the prefix rule keeps its setting, unless it names the Provider's or the platform's own", () => {
  const legacy = new CustomerConnections(settings, { CONTOSO_SERVICEBUS_SAS: "x" });
  assert.throws(
    () =>
      legacy.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: "CONTOSO_SERVICEBUS_SAS" })),
    (e: unknown) => e instanceof ConfigurationError && !/is not a tenant setting/.test(e.message),
    "read (and judged on its value's shape), not refused for its name",
  );
  for (const setting of ["WEBSITE_AUTH_ENCRYPTION_KEY", "FUNCTIONS_MASTER_KEY", "AzureWebJobsSecretStorage"])
    assert.throws(
      () => legacy.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: setting })),
      (e: unknown) => e instanceof ConfigurationError && /is not a tenant setting/.test(e.message),
      setting,
    );
});

test("a registration naming a setting outside the tenant prefix is never read (one stored before the rule)", () => {
  const env = { AzureWebJobsStorage: STORAGE, TENANT_SAS_A: STORAGE };
  const c = new CustomerConnections(settings, env);
  for (const auth of [
    { mode: "certificate", certificateSetting: "AzureWebJobsStorage" },
    { mode: "clientSecret", secretSetting: "AzureWebJobsStorage" },
    { mode: "sas", sasSetting: "AzureWebJobsStorage" },
  ] as const) {
    assert.throws(
      () => c.resolve(testRegistration("alpha", DIR_A, auth)),
      (e: unknown) =>
        e instanceof ConfigurationError &&
        e.setting === "AzureWebJobsStorage" &&
        /TENANT_/.test(e.message) &&
        !e.message.includes(STORAGE_KEY),
    );
  }
  // A SAS setting whose endpoint is another host: neither the key nor the host it names comes back.
  assert.throws(
    () => c.resolve(testRegistration("alpha", DIR_A, { mode: "sas", sasSetting: "TENANT_SAS_A" })),
    (e: unknown) => e instanceof ConfigurationError && !/127\.0\.0\.1|AccountKey|dev/.test(e.message),
  );
});
