/**
 * Registers the tenant registry's HTTP API (`/api/tenants...`). Logic lives in lib/tenants/http.ts.
 * State-changing routes are wrapped by the audit (lib/audit/routes.ts).
 */
import { app, type HttpResponseInit } from "@azure/functions";
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { runtime } from "../lib/app/runtime";
import { createTenantHandlers } from "../lib/tenants/http";
import { routeOptions } from "../lib/http/routes";

const handlers = createTenantHandlers(() => runtime().tenantApi);
const audit = auditRoutes(() => runtime().audit);

app.http("tenantsList", {
  ...routeOptions("tenantsList"),
  authLevel: "function",
  handler: handlers.list,
});
app.http("tenantsGet", {
  ...routeOptions("tenantsGet"),
  authLevel: "function",
  handler: handlers.get,
});
app.http("tenantsPut", {
  ...routeOptions("tenantsPut"),
  authLevel: "function",
  handler: audit.http("tenantsPut", handlers.put),
});
df.app.client.http("tenantsDelete", {
  ...routeOptions("tenantsDelete"),
  authLevel: "function",
  handler: audit.durable(
    "tenantsDelete",
    async (request, client, context) => (await handlers.delete(request, context, client)) as HttpResponseInit,
  ),
});
app.http("tenantsOnboarding", {
  ...routeOptions("tenantsOnboarding"),
  authLevel: "function",
  handler: handlers.onboarding,
});
