/**
 * Registers the releases HTTP API; logic lives in lib/releases/http.ts. The create route is wrapped by
 * the audit (lib/audit/routes.ts).
 */
import { app } from "@azure/functions";
import { auditRoutes } from "../lib/audit/routes";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";
import { createReleaseHandlers } from "../lib/releases/http";

const handlers = createReleaseHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

app.http("releasesCreate", {
  ...routeOptions("releasesCreate"),
  authLevel: "function",
  handler: audit.http("releasesCreate", handlers.create),
});
app.http("releasesList", { ...routeOptions("releasesList"), authLevel: "function", handler: handlers.list });
app.http("releasesGet", { ...routeOptions("releasesGet"), authLevel: "function", handler: handlers.get });
