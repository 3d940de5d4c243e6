import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigurationError, loadSettings, tenantSettingAllowed } from "../../../lib/config/settings";

test("defaults to the public Service Bus suffix and no local overrides", () => {
  const s = loadSettings({});
  assert.deepEqual(s.allowedNamespaceSuffixes, [".servicebus.windows.net"]);
  assert.equal(s.localMode, false);
  assert.deepEqual(s.localEndpoints, {});
});

test("extra namespace suffixes and endpoint overrides need local mode", () => {
  assert.throws(
    () => loadSettings({ SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.windows.net,.localhost" }),
    (e: unknown) => e instanceof ConfigurationError && e.setting === "SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES",
  );
  assert.throws(
    () => loadSettings({ DEV_SERVICEBUS_ENDPOINTS: "a.servicebus.windows.net=sb://127.0.0.1:5672" }),
    (e: unknown) => e instanceof ConfigurationError && e.setting === "DEV_SERVICEBUS_ENDPOINTS",
  );
  const s = loadSettings({
    DEV_LOCAL_MODE: "true",
    SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: ".servicebus.windows.net,.sb.localhost",
    DEV_SERVICEBUS_ENDPOINTS: "Contoso.sb.localhost=sb://127.0.0.1:5673",
  });
  assert.deepEqual(s.allowedNamespaceSuffixes, [".servicebus.windows.net", ".sb.localhost"]);
  assert.deepEqual(s.localEndpoints, { "contoso.sb.localhost": "sb://127.0.0.1:5673" });
});

test("malformed settings name the setting", () => {
  assert.throws(
    () => loadSettings({ DEV_LOCAL_MODE: "1", DEV_SERVICEBUS_ENDPOINTS: "nonsense" }),
    /DEV_SERVICEBUS_ENDPOINTS/,
  );
  assert.throws(
    () => loadSettings({ DEV_LOCAL_MODE: "1", SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES: "no-dot" }),
    /SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES/,
  );
});

test("workflow timings have defaults and are range-checked", () => {
  const s = loadSettings({});
  assert.equal(s.statusPollWaitMs, 20_000);
  assert.equal(s.pumpReensureSeconds, 60);
  assert.equal(loadSettings({ STATUS_POLL_WAIT_MS: "500" }).statusPollWaitMs, 500);
  assert.throws(() => loadSettings({ STATUS_POLL_WAIT_MS: "5" }), /STATUS_POLL_WAIT_MS/);
  assert.throws(() => loadSettings({ CANCEL_GRACE_SECONDS: "soon" }), /CANCEL_GRACE_SECONDS/);
});

test("status delivery defaults to the pump; the timer-poll baseline has a six-field schedule", () => {
  const s = loadSettings({});
  assert.equal(s.statusDelivery, "pump");
  assert.equal(s.statusPollSchedule, "*/10 * * * * *");
  const t = loadSettings({ STATUS_DELIVERY: "timerPoll", STATUS_POLL_SCHEDULE: "*/1 * * * * *" });
  assert.equal(t.statusDelivery, "timerPoll");
  assert.equal(t.statusPollSchedule, "*/1 * * * * *");
  assert.throws(() => loadSettings({ STATUS_DELIVERY: "webhook" }), /STATUS_DELIVERY/);
  assert.throws(() => loadSettings({ STATUS_POLL_SCHEDULE: "*/10 * * * *" }), /STATUS_POLL_SCHEDULE/);
});

test("REGISTRATION_SETTING_PREFIX: TENANT_ by default; it can never select the Provider's or the platform's settings", () => {
  assert.equal(loadSettings({}).tenantSecretSettingPrefix, "TENANT_");
  assert.equal(
    loadSettings({ REGISTRATION_SETTING_PREFIX: "CUSTOMER_" }).tenantSecretSettingPrefix,
    "CUSTOMER_",
  );
  for (const bad of ["TENANT", "AzureWebJobs", "Azure_", "WEBSITE_", "PROVIDER_", "STATUS_", "a b_"]) {
    assert.throws(
      () => loadSettings({ REGISTRATION_SETTING_PREFIX: bad }),
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
      () => loadSettings({ [name]: value }),
      (e: unknown) =>
        e instanceof ConfigurationError && e.setting === name && !e.message.includes("c2VjcmV0"),
      name,
    );
  }
  assert.throws(
    () => loadSettings({ DEV_LOCAL_MODE: "1", DEV_SERVICEBUS_ENDPOINTS: `x=${value}` }),
    (e: unknown) => e instanceof ConfigurationError && !e.message.includes("c2VjcmV0"),
  );
});
