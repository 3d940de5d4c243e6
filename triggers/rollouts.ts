/**
 * Registers the rollouts HTTP API; logic lives in lib/rollouts/http.ts. State-changing routes are wrapped
 * by the audit (lib/audit/routes.ts).
 */
import * as df from "durable-functions";
import { auditRoutes } from "../lib/audit/routes";
import { runtime } from "../lib/app/runtime";
import { routeOptions, type RouteName } from "../lib/http/routes";
import { createRolloutHandlers } from "../lib/rollouts/http";

const handlers = createRolloutHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

const ROUTES: [RouteName, keyof typeof handlers][] = [
  ["rolloutsStart", "start"],
  ["rolloutsList", "list"],
  ["rolloutsGet", "get"],
  ["rolloutsApprove", "approve"],
  ["rolloutsPause", "pause"],
  ["rolloutsResume", "resume"],
  ["rolloutsAbort", "abort"],
  ["rolloutsRetry", "retry"],
];

for (const [name, handler] of ROUTES)
  df.app.client.http(name, {
    ...routeOptions(name),
    authLevel: "function",
    handler: audit.durable(name, handlers[handler]),
  });
