/** Registers the tenant registry's HTTP API (`/api/tenants...`). Logic lives in lib/tenants/http.ts. */
import { app } from "@azure/functions";
import * as df from "durable-functions";
import { createTenantHandlers, defaultTenantApiDeps } from "../lib/tenants/http";
import { routeOptions } from "../lib/http/routes";

const handlers = createTenantHandlers(defaultTenantApiDeps());

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
  handler: handlers.put,
});
df.app.client.http("tenantsDelete", {
  ...routeOptions("tenantsDelete"),
  authLevel: "function",
  handler: (request, client, context) => handlers.delete(request, context, client),
});
app.http("tenantsOnboarding", {
  ...routeOptions("tenantsOnboarding"),
  authLevel: "function",
  handler: handlers.onboarding,
});
