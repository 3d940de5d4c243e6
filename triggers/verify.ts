/**
 * Registers a tenant's connection checks (verify, health) and resume; logic lives in
 * lib/deployments/verify-http.ts. Verify and resume are audited (lib/audit/routes.ts).
 */
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { createVerifyHandlers } from "../lib/deployments/verify-http";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createVerifyHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

df.app.client.http("tenantsVerify", {
  ...routeOptions("tenantsVerify"),
  authLevel: "function",
  handler: audit.durable("tenantsVerify", handlers.verify),
});
df.app.client.http("tenantsHealth", {
  ...routeOptions("tenantsHealth"),
  authLevel: "function",
  handler: handlers.health,
});
df.app.client.http("tenantsResume", {
  ...routeOptions("tenantsResume"),
  authLevel: "function",
  handler: audit.durable("tenantsResume", handlers.resume),
});
