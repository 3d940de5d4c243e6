/** Registers the tenant registry's HTTP API (`/api/tenants...`). Logic lives in lib/tenants/http.ts. */
import { app } from "@azure/functions";
import * as df from "durable-functions";
import { createTenantHandlers, defaultTenantApiDeps } from "../lib/tenants/http";

const handlers = createTenantHandlers(defaultTenantApiDeps());

app.http("tenantsList", {
  methods: ["GET"],
  route: "tenants",
  authLevel: "function",
  handler: handlers.list,
});
app.http("tenantsGet", {
  methods: ["GET"],
  route: "tenants/{tenant}",
  authLevel: "function",
  handler: handlers.get,
});
app.http("tenantsPut", {
  methods: ["PUT"],
  route: "tenants/{tenant}",
  authLevel: "function",
  handler: handlers.put,
});
df.app.client.http("tenantsDelete", {
  methods: ["DELETE"],
  route: "tenants/{tenant}",
  authLevel: "function",
  handler: (request, client, context) => handlers.delete(request, context, client),
});
app.http("tenantsOnboarding", {
  methods: ["GET"],
  route: "tenants/{tenant}/onboarding",
  authLevel: "function",
  handler: handlers.onboarding,
});
