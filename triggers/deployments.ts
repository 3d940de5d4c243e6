/**
 * Registers the deployments HTTP API; logic lives in lib/deployments/http.ts. State-changing routes are
 * wrapped by the audit (lib/audit/routes.ts).
 */
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { createDeploymentHandlers } from "../lib/deployments/http";
import { runtime } from "../lib/app/runtime";
import { routeOptions, type RouteName } from "../lib/http/routes";

const handlers = createDeploymentHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

// Every route goes through the audit wrapper, which wraps the state-changing ones and returns the others
// unchanged (lib/audit/routes.ts).
const ROUTES: [RouteName, keyof typeof handlers][] = [
  ["deploymentsStart", "start"],
  ["deploymentsCancel", "cancel"],
  ["deploymentsGet", "get"],
  ["deploymentsReceipt", "receipt"],
  ["deploymentsList", "list"],
  ["deploymentsRetry", "retry"],
  ["deploymentsRewind", "rewind"],
  ["deploymentsTerminate", "terminate"],
];

for (const [name, handler] of ROUTES)
  df.app.client.http(name, {
    ...routeOptions(name),
    authLevel: "function",
    handler: audit.durable(name, handlers[handler]),
  });
