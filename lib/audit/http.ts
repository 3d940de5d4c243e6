/**
 * `GET /api/audit?target=&actor=&since=&top=&continuationToken=`: the audit trail, newest first, for
 * callers holding `Audit.Read` (when role checks are on). Registered by `triggers/audit.ts`; the records
 * are written by the audit wrapper around each audited route's handler (./routes.ts) and stored by
 * ./store.ts.
 */
import { z } from "zod";
import type { ProviderSettings } from "../config/settings";
import { actorView, requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { continuationTokenParam, rejectInvalidContinuationToken } from "../http/paging";
import { parseWith } from "../http/request";
import type { AuditEntry, AuditStore } from "./store";

const auditQuerySchema = z.strictObject({
  target: z
    .string()
    .regex(
      /^(deployment|rollout|tenant|release|subscription):[A-Za-z0-9._-]{1,64}$/,
      "must be deployment:<id>, rollout:<id>, tenant:<name>, release:<version> or subscription:<id>",
    )
    .optional(),
  actor: z.string().min(1).max(256).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  top: z.coerce.number().int().min(1).max(1000).optional(),
  continuationToken: continuationTokenParam.optional(),
});

interface AuditApiDeps {
  settings: Pick<ProviderSettings, "requireRoles">;
  audit: AuditStore;
}

/**
 * A record as the API answers it (../shared/design.md, "Trust"): the actor as `{ name, id }`, the
 * invocation id as `requestId` (the correlation id a 500 carries), the caller's own `x-ms-request-id`
 * as `clientRequestId`.
 */
function auditView(e: AuditEntry) {
  return {
    at: e.at,
    actor: actorView(e.actor),
    action: e.action,
    target: e.target,
    status: e.status,
    requestId: e.invocationId,
    ...(e.requestId !== undefined ? { clientRequestId: e.requestId } : {}),
    ...(e.traceparent !== undefined ? { traceparent: e.traceparent } : {}),
  };
}

export function createAuditHandlers(getDeps: () => AuditApiDeps) {
  return {
    list: apiHandler(async (request) => {
      const { settings, audit } = getDeps();
      requireRole(request, settings.requireRoles, [ROLES.auditRead]);
      const query = parseWith(auditQuerySchema, Object.fromEntries(request.query.entries()));
      const page = await audit.list(query).catch(rejectInvalidContinuationToken);
      return json(200, {
        items: page.items.map(auditView),
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      });
    }),
  };
}
