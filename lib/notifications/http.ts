/**
 * The webhook subscriptions API: `POST /api/subscriptions` (`{ url, events, secretSetting, description? }`),
 * `GET /api/subscriptions`, `GET` and `DELETE /api/subscriptions/{id}`, and `GET
 * /api/subscriptions/{id}/deliveries` (the delivery log, newest first, paged). Changing needs
 * `Tenants.Admin`; reading `Tenants.Read`, `Tenants.Admin` or `Audit.Read` (when role checks are on). The
 * secret is never in a request or an answer: only the name of the app setting that holds it. Registered
 * by `triggers/subscriptions.ts`.
 */
import { randomUUID } from "node:crypto";
import type { HttpRequest } from "@azure/functions";
import { z } from "zod";
import type { ProviderSettings } from "../config/settings";
import { actorOf, actorView, holdsRole, requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { continuationTokenParam, rejectInvalidContinuationToken } from "../http/paging";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import { MAX_SUBSCRIPTIONS, type Subscription, subscriptionRequestSchema } from "./model";
import type { DeliveryLog, SubscriptionStore } from "./store";
import { targetProblem } from "./targets";

export interface NotificationApiDeps {
  settings: Pick<ProviderSettings, "requireRoles" | "localMode" | "webhookAllowedHosts">;
  subscriptions: SubscriptionStore;
  deliveries: DeliveryLog;
}

const WRITE = [ROLES.tenantsAdmin];
const READ = [ROLES.tenantsRead, ROLES.tenantsAdmin, ROLES.auditRead];
const ID = /^s-[0-9a-f]{24}$/;

const deliveriesQuery = z.strictObject({
  top: z.coerce.number().int().min(1).max(1000).optional(),
  continuationToken: continuationTokenParam.optional(),
});

/**
 * A subscription as the API answers it. A webhook URL often carries a token in its path or query (chat
 * webhooks do): only callers who may change subscriptions see it whole; readers see its origin.
 */
function subscriptionView(s: Subscription, fullUrl: boolean) {
  return {
    id: s.id,
    url: fullUrl ? s.url : `${new URL(s.url).origin}/…`,
    events: s.events,
    secretSetting: s.secretSetting,
    ...(s.description !== undefined ? { description: s.description } : {}),
    createdAt: s.createdAt,
    createdBy: actorView(s.createdBy),
  };
}

function idParam(request: HttpRequest): string {
  const id = request.params.id ?? "";
  if (!ID.test(id)) throw validationProblem([{ field: "id", message: "must be a subscription id (s-...)" }]);
  return id;
}

async function requireSubscription(deps: NotificationApiDeps, request: HttpRequest): Promise<Subscription> {
  const id = idParam(request);
  const subscription = await deps.subscriptions.get(id);
  if (!subscription) throw new ProblemError(404, `Subscription "${id}" was not found.`);
  return subscription;
}

export function createNotificationHandlers(getDeps: () => NotificationApiDeps) {
  return {
    create: apiHandler(async (request, context) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, WRITE);
      const body = parseWith(subscriptionRequestSchema, await readJson(request));
      const refused = targetProblem(new URL(body.url), {
        allowedHosts: deps.settings.webhookAllowedHosts,
        localMode: deps.settings.localMode,
      });
      if (refused) throw validationProblem([{ field: "url", message: refused }]);
      if ((await deps.subscriptions.list()).length >= MAX_SUBSCRIPTIONS)
        throw new ProblemError(
          409,
          `There are ${MAX_SUBSCRIPTIONS} subscriptions already; delete one first.`,
        );
      const subscription: Subscription = {
        id: `s-${randomUUID().replace(/-/g, "").slice(0, 24)}`,
        url: body.url,
        events: [...new Set(body.events)],
        secretSetting: body.secretSetting,
        ...(body.description !== undefined ? { description: body.description } : {}),
        createdAt: new Date().toISOString(),
        createdBy: actorOf(request),
      };
      await deps.subscriptions.create(subscription);
      invocationLogger(context).info("subscription created", {
        subscriptionId: subscription.id,
        events: subscription.events,
      });
      const location = new URL(`/api/subscriptions/${subscription.id}`, request.url).href;
      return json(201, subscriptionView(subscription, true), { location });
    }),

    list: apiHandler(async (request) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, READ);
      const full = holdsRole(request, deps.settings.requireRoles, ROLES.tenantsAdmin);
      return json(200, { items: (await deps.subscriptions.list()).map((s) => subscriptionView(s, full)) });
    }),

    get: apiHandler(async (request) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, READ);
      const full = holdsRole(request, deps.settings.requireRoles, ROLES.tenantsAdmin);
      return json(200, subscriptionView(await requireSubscription(deps, request), full));
    }),

    delete: apiHandler(async (request, context) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, WRITE);
      const id = idParam(request);
      if (!(await deps.subscriptions.delete(id)))
        throw new ProblemError(404, `Subscription "${id}" was not found.`);
      invocationLogger(context).info("subscription deleted", { subscriptionId: id });
      return { status: 204 };
    }),

    deliveries: apiHandler(async (request) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, READ);
      const subscription = await requireSubscription(deps, request);
      const query = parseWith(deliveriesQuery, Object.fromEntries(request.query.entries()));
      const page = await deps.deliveries.list(subscription.id, query).catch(rejectInvalidContinuationToken);
      return json(200, {
        items: page.items,
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      });
    }),
  };
}
