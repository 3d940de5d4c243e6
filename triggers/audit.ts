/** Registers the audit trail's read API (`GET /api/audit`); logic lives in lib/audit/http.ts. */
import { app } from "@azure/functions";
import { createAuditHandlers } from "../lib/audit/http";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createAuditHandlers(runtime);

app.http("auditList", { ...routeOptions("auditList"), authLevel: "function", handler: handlers.list });
