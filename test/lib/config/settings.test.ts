import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigurationError,
  loadRoleChecks,
  loadSettings,
  loadStorageAccess,
  SETTING_DEFAULTS,
  tenantSettingAllowed,
} from "../../../lib/config/settings";

/** Table Storage for settings that need one (Azurite's well-known form). */
const AZURITE = "UseDevelopmentStorage=true";

test("defaults to the public Service Bus suffix and no local overrides", () => {
  const s = loadSettings({ AzureWebJobsStorage: AZURITE });
  assert.deepEqual(s.allowedNamespaceSuffixes, [".servicebus.windows.net"]);
  assert.equal(s.localMode, false);
  assert.deepEqual(s.localEndpoints, {});
});

test("extra namespace suffixes and endpoint overrides need local mode", () => {
  assert.throws(
    () =>
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.windows.net,.localhost",
      }),
    (e: unknown) => e instanceof ConfigurationError && e.setting === "SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES",
  );
  assert.throws(
    () =>
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        DEV_SERVICEBUS_ENDPOINTS: "a.servicebus.windows.net=sb://127.0.0.1:5672",
      }),
    (e: unknown) => e instanceof ConfigurationError && e.setting === "DEV_SERVICEBUS_ENDPOINTS",
  );
  const s = loadSettings({
    AzureWebJobsStorage: AZURITE,
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.windows.net,.sb.localhost",
    DEV_SERVICEBUS_ENDPOINTS: "Contoso.sb.localhost=sb://127.0.0.1:5673",
  });
  assert.deepEqual(s.allowedNamespaceSuffixes, [".servicebus.windows.net", ".sb.localhost"]);
  assert.deepEqual(s.localEndpoints, { "contoso.sb.localhost": "sb://127.0.0.1:5673" });
});

test("malformed settings name the setting", () => {
  assert.throws(
    () =>
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        DEV_LOCAL_MODE: "1",
        DEV_SERVICEBUS_ENDPOINTS: "nonsense",
      }),
    /DEV_SERVICEBUS_ENDPOINTS/,
  );
  assert.throws(
    () =>
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        DEV_LOCAL_MODE: "1",
        SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: "no-dot",
      }),
    /SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES/,
  );
});

test("workflow timings have defaults and are range-checked", () => {
  const s = loadSettings({ AzureWebJobsStorage: AZURITE });
  for (const [name, value] of Object.entries(SETTING_DEFAULTS))
    assert.equal(s[name as keyof typeof SETTING_DEFAULTS], value, name);
  assert.equal(s.statusPollWaitMs, 20_000);
  assert.equal(s.pumpReensureSeconds, 60);
  assert.equal(
    loadSettings({ AzureWebJobsStorage: AZURITE, STATUS_POLL_WAIT_MS: "500" }).statusPollWaitMs,
    500,
  );
  assert.throws(
    () => loadSettings({ AzureWebJobsStorage: AZURITE, STATUS_POLL_WAIT_MS: "5" }),
    /STATUS_POLL_WAIT_MS/,
  );
  assert.throws(
    () => loadSettings({ AzureWebJobsStorage: AZURITE, CANCEL_GRACE_SECONDS: "soon" }),
    /CANCEL_GRACE_SECONDS/,
  );
});

test("status delivery defaults to the pump; the timer-poll baseline has a six-field schedule", () => {
  const s = loadSettings({ AzureWebJobsStorage: AZURITE });
  assert.equal(s.statusDelivery, "pump");
  assert.equal(s.statusPollSchedule, "*/10 * * * * *");
  const t = loadSettings({
    AzureWebJobsStorage: AZURITE,
    STATUS_DELIVERY: "timerPoll",
    STATUS_POLL_SCHEDULE: "*/1 * * * * *",
  });
  assert.equal(t.statusDelivery, "timerPoll");
  assert.equal(t.statusPollSchedule, "*/1 * * * * *");
  assert.throws(
    () => loadSettings({ AzureWebJobsStorage: AZURITE, STATUS_DELIVERY: "webhook" }),
    /STATUS_DELIVERY/,
  );
  assert.throws(
    () => loadSettings({ AzureWebJobsStorage: AZURITE, STATUS_POLL_SCHEDULE: "*/10 * * * *" }),
    /STATUS_POLL_SCHEDULE/,
  );
});

test("REGISTRATION_SETTING_PREFIX: TENANT_ by default; it can never select the Provider's or the platform's settings", () => {
  assert.equal(loadSettings({ AzureWebJobsStorage: AZURITE }).tenantSecretSettingPrefix, "TENANT_");
  assert.equal(
    loadSettings({ AzureWebJobsStorage: AZURITE, REGISTRATION_SETTING_PREFIX: "CUSTOMER_" })
      .tenantSecretSettingPrefix,
    "CUSTOMER_",
  );
  for (const bad of ["TENANT", "AzureWebJobs", "Azure_", "WEBSITE_", "PROVIDER_", "STATUS_", "a b_"]) {
    assert.throws(
      () => loadSettings({ AzureWebJobsStorage: AZURITE, REGISTRATION_SETTING_PREFIX: bad }),
      /REGISTRATION_SETTING_PREFIX/,
      bad,
    );
  }
  assert.equal(tenantSettingAllowed("TENANT_CONTOSO_SAS", "TENANT_"), true);
  assert.equal(tenantSettingAllowed("TENANT_", "TENANT_"), false);
  assert.equal(tenantSettingAllowed("AzureWebJobsStorage", "TENANT_"), false);
});

test("a setting's error names the setting and what is wrong, never its value", () => {
  const value = "AccountKey=c2VjcmV0;sig=abc";
  for (const name of [
    "STATUS_POLL_WAIT_MS",
    "STATUS_DELIVERY",
    "STATUS_POLL_SCHEDULE",
    "REGISTRATION_SETTING_PREFIX",
  ]) {
    assert.throws(
      () => loadSettings({ AzureWebJobsStorage: AZURITE, [name]: value }),
      (e: unknown) =>
        e instanceof ConfigurationError && e.setting === name && !e.message.includes("c2VjcmV0"),
      name,
    );
  }
  assert.throws(
    () =>
      loadSettings({
        AzureWebJobsStorage: AZURITE,
        DEV_LOCAL_MODE: "1",
        DEV_SERVICEBUS_ENDPOINTS: `x=${value}`,
      }),
    (e: unknown) => e instanceof ConfigurationError && !e.message.includes("c2VjcmV0"),
  );
});

test("storage: a connection string (Azurite, local), or the identity-based form the Functions host reads", () => {
  assert.deepEqual(loadStorageAccess({ AzureWebJobsStorage: "UseDevelopmentStorage=true" }), {
    kind: "connectionString",
    connectionString: "UseDevelopmentStorage=true",
  });
  assert.deepEqual(
    loadStorageAccess({
      AzureWebJobsStorage__accountName: "xtdeployabc123",
      AzureWebJobsStorage__credential: "managedidentity",
      AzureWebJobsStorage__clientId: "11111111-2222-3333-4444-555555555555",
    }),
    {
      kind: "identity",
      tableServiceUri: "https://xtdeployabc123.table.core.windows.net",
      clientId: "11111111-2222-3333-4444-555555555555",
    },
  );
  // The table service URI wins over the account name (another cloud, a custom endpoint).
  assert.deepEqual(
    loadStorageAccess({
      AzureWebJobsStorage__tableServiceUri: "https://acct.table.core.usgovcloudapi.net/",
      AzureWebJobsStorage__accountName: "acct",
    }),
    { kind: "identity", tableServiceUri: "https://acct.table.core.usgovcloudapi.net" },
  );
  // A connection string wins, as in the Functions host, so the host and our tables use one account.
  assert.equal(
    loadStorageAccess({
      AzureWebJobsStorage: "UseDevelopmentStorage=true",
      AzureWebJobsStorage__accountName: "x1y",
    }).kind,
    "connectionString",
  );
  assert.deepEqual(loadSettings({ AzureWebJobsStorage__accountName: "acct" }).storage, {
    kind: "identity",
    tableServiceUri: "https://acct.table.core.windows.net",
  });
});

test("storage: neither form set is an error naming the setting and its identity-based form; bad parts are named", () => {
  for (const env of [
    {},
    { AzureWebJobsStorage: "  " },
    { AzureWebJobsStorage__clientId: "only-a-client-id" },
  ]) {
    for (const load of [() => loadStorageAccess(env), () => loadSettings(env)])
      assert.throws(
        load,
        (e: unknown) =>
          e instanceof ConfigurationError &&
          e.setting === "AzureWebJobsStorage" &&
          /AzureWebJobsStorage__accountName/.test(e.message),
      );
  }
  assert.throws(
    () => loadStorageAccess({ AzureWebJobsStorage__accountName: "Not_An_Account" }),
    (e: unknown) => e instanceof ConfigurationError && e.setting === "AzureWebJobsStorage__accountName",
  );
  for (const uri of ["acct.table.core.windows.net", "http://acct.table.core.windows.net"])
    assert.throws(
      () => loadStorageAccess({ AzureWebJobsStorage__tableServiceUri: uri }),
      (e: unknown) => e instanceof ConfigurationError && e.setting === "AzureWebJobsStorage__tableServiceUri",
      `${uri}: a bearer token never goes over plain http`,
    );
});

test("role checks: WEBSITE_AUTH_ENABLED=True (set by App Service) says App Service Authentication is on", () => {
  assert.deepEqual(loadRoleChecks({}), { requireRoles: false, platformAuthEnabled: false });
  assert.deepEqual(loadRoleChecks({ AUTH_REQUIRE_ROLES: "true", WEBSITE_AUTH_ENABLED: "True" }), {
    requireRoles: true,
    platformAuthEnabled: true,
  });
  assert.equal(loadRoleChecks({ WEBSITE_AUTH_ENABLED: "False" }).platformAuthEnabled, false);
  const s = loadSettings({ AzureWebJobsStorage: AZURITE, AUTH_REQUIRE_ROLES: "1" });
  assert.equal(s.requireRoles, true);
  assert.equal(s.platformAuthEnabled, false);
});

test("PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID: optional; a resource group's id, else an error naming the setting but not its value", () => {
  assert.equal(loadSettings({ AzureWebJobsStorage: AZURITE }).privateEndpointsResourceGroupId, undefined);
  const id = "/subscriptions/0b0b0b0b-1111-4222-8333-444444444444/resourceGroups/provider-rg";
  assert.equal(
    loadSettings({ AzureWebJobsStorage: AZURITE, PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID: id })
      .privateEndpointsResourceGroupId,
    id,
  );
  for (const bad of [
    "provider-rg",
    "/subscriptions/x/resourceGroups/rg",
    `${id}/providers/Microsoft.Network`,
  ]) {
    assert.throws(
      () => loadSettings({ AzureWebJobsStorage: AZURITE, PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID: bad }),
      (error: Error) =>
        error instanceof ConfigurationError &&
        /PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID/.test(error.message) &&
        !error.message.includes(bad),
    );
  }
});
