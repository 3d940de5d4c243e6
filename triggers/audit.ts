/** Registers the audit trail's read API (`GET /api/audit`); logic lives in lib/audit/http.ts. */
import { app } from "@azure/functions";
import { createAuditHandlers } from "../lib/audit/http";
import { auditStore } from "../lib/audit/store";
import { runtime } from "../lib/deployments/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createAuditHandlers(() => {
  const rt = runtime();
  return { settings: rt.settings, audit: auditStore(rt) };
});

app.http("auditList", { ...routeOptions("auditList"), authLevel: "function", handler: handlers.list });
