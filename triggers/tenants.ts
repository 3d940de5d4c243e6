/**
 * Registers the tenant registry's HTTP API (`/api/tenants...`). Logic lives in lib/tenants/http.ts.
 * State-changing routes are wrapped by the audit (lib/audit/routes.ts).
 */
import { app, type HttpResponseInit } from "@azure/functions";
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { auditStore } from "../lib/audit/store";
import { inFlight } from "../lib/deployments/reconcile";
import { ProviderRuntime, runtime } from "../lib/deployments/runtime";
import { fleetInventory } from "../lib/inventory/http";
import { createTenantHandlers, TenantApiDeps } from "../lib/tenants/http";
import { routeOptions } from "../lib/http/routes";

// The registry takes what it needs of deployments from here, so lib/tenants never imports lib/deployments.
const depsOf = new WeakMap<ProviderRuntime, TenantApiDeps>();
function tenantApiDeps(): TenantApiDeps {
  const rt = runtime();
  let deps = depsOf.get(rt);
  if (!deps) {
    deps = {
      ...rt,
      inFlight: async (client, tenant) => (await inFlight(rt, client, tenant)).length,
      currentReleases: async () =>
        new Map(
          (await fleetInventory(rt)).flatMap((i) =>
            i.current ? [[i.tenant, i.current.release] as const] : [],
          ),
        ),
    };
    depsOf.set(rt, deps);
  }
  return deps;
}

const handlers = createTenantHandlers(tenantApiDeps);
const audit = auditRoutes(() => auditStore(runtime()));

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
