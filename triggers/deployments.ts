/**
 * Registers the deployments HTTP API; logic lives in lib/deployments/http.ts. State-changing routes are
 * wrapped by the audit (lib/audit/routes.ts).
 */
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { createDeploymentHandlers } from "../lib/deployments/http";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createDeploymentHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

df.app.client.http("deploymentsStart", {
  ...routeOptions("deploymentsStart"),
  authLevel: "function",
  handler: audit.durable("deploymentsStart", handlers.start),
});
df.app.client.http("deploymentsCancel", {
  ...routeOptions("deploymentsCancel"),
  authLevel: "function",
  handler: audit.durable("deploymentsCancel", handlers.cancel),
});
df.app.client.http("deploymentsGet", {
  ...routeOptions("deploymentsGet"),
  authLevel: "function",
  handler: handlers.get,
});
df.app.client.http("deploymentsReceipt", {
  ...routeOptions("deploymentsReceipt"),
  authLevel: "function",
  handler: handlers.receipt,
});
df.app.client.http("deploymentsList", {
  ...routeOptions("deploymentsList"),
  authLevel: "function",
  handler: handlers.list,
});
df.app.client.http("deploymentsRetry", {
  ...routeOptions("deploymentsRetry"),
  authLevel: "function",
  handler: audit.durable("deploymentsRetry", handlers.retry),
});
df.app.client.http("deploymentsRewind", {
  ...routeOptions("deploymentsRewind"),
  authLevel: "function",
  handler: audit.durable("deploymentsRewind", handlers.rewind),
});
df.app.client.http("deploymentsTerminate", {
  ...routeOptions("deploymentsTerminate"),
  authLevel: "function",
  handler: audit.durable("deploymentsTerminate", handlers.terminate),
});
