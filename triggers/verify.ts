/**
 * Registers a tenant's connection checks (verify, health) and resume; logic lives in
 * lib/deployments/verify-http.ts. Verify and resume are audited (lib/audit/routes.ts).
 */
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { createVerifyHandlers } from "../lib/deployments/verify-http";
import { runtime } from "../lib/app/runtime";
import { routeOptions, type RouteName } from "../lib/http/routes";

const handlers = createVerifyHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

// The audit wrapper wraps the state-changing routes and returns the others unchanged (lib/audit/routes.ts).
const ROUTES: [RouteName, keyof typeof handlers][] = [
  ["tenantsVerify", "verify"],
  ["tenantsHealth", "health"],
  ["tenantsResume", "resume"],
];

for (const [name, handler] of ROUTES)
  df.app.client.http(name, {
    ...routeOptions(name),
    authLevel: "function",
    handler: audit.durable(name, handlers[handler]),
  });
