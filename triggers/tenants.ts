/** Registers the tenant registry's HTTP API (`/api/tenants...`). Logic lives in lib/tenants/http.ts. */
import { app } from "@azure/functions";
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
app.http("tenantsDelete", {
  methods: ["DELETE"],
  route: "tenants/{tenant}",
  authLevel: "function",
  handler: handlers.delete,
});
app.http("tenantsOnboarding", {
  methods: ["GET"],
  route: "tenants/{tenant}/onboarding",
  authLevel: "function",
  handler: handlers.onboarding,
});
