/** Registers a tenant's connection checks (verify, health) and resume; logic lives in lib/deployments/verify-http.ts. */
import * as df from "durable-functions";
import { createVerifyHandlers } from "../lib/deployments/verify-http";
import { runtime } from "../lib/deployments/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createVerifyHandlers(runtime);

df.app.client.http("tenantsVerify", {
  ...routeOptions("tenantsVerify"),
  authLevel: "function",
  handler: handlers.verify,
});
df.app.client.http("tenantsHealth", {
  ...routeOptions("tenantsHealth"),
  authLevel: "function",
  handler: handlers.health,
});
df.app.client.http("tenantsResume", {
  ...routeOptions("tenantsResume"),
  authLevel: "function",
  handler: handlers.resume,
});
