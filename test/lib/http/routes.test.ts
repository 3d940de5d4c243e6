import { test } from "node:test";
import assert from "node:assert/strict";
import { allowedMethods } from "../../../lib/http/routes";

test("allowedMethods gathers every route matching a path, literal segments case-insensitively", () => {
  assert.deepEqual(allowedMethods("tenants/contoso").sort(), ["DELETE", "GET", "PUT"]);
  assert.deepEqual(allowedMethods("/tenants/contoso/"), allowedMethods("tenants/contoso"));
  assert.deepEqual(allowedMethods("Tenants/contoso/Deployments").sort(), ["GET", "POST"]);
  assert.deepEqual(allowedMethods("deployments/x/cancel"), ["POST"]);
  assert.deepEqual(allowedMethods("dashboard"), ["GET"]);
});

test("allowedMethods is empty for paths no route has", () => {
  for (const path of [
    "",
    "nope",
    "tenants/a/b",
    "deployments",
    "deployments//cancel",
    "tenants/x/deployments/y",
  ])
    assert.deepEqual(allowedMethods(path), [], path);
});
