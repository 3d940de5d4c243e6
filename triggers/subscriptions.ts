/**
 * Registers the webhook subscriptions API; logic lives in lib/notifications/http.ts. Creating and deleting
 * are wrapped by the audit (lib/audit/routes.ts).
 */
import { app } from "@azure/functions";
import { runtime } from "../lib/app/runtime";
import { auditRoutes } from "../lib/audit/routes";
import { routeOptions, type RouteName } from "../lib/http/routes";
import { createNotificationHandlers } from "../lib/notifications/http";

const handlers = createNotificationHandlers(runtime);
const audit = auditRoutes(() => runtime().audit);

const ROUTES: [RouteName, keyof typeof handlers][] = [
  ["subscriptionsCreate", "create"],
  ["subscriptionsList", "list"],
  ["subscriptionsGet", "get"],
  ["subscriptionsDelete", "delete"],
  ["subscriptionsDeliveries", "deliveries"],
];

for (const [name, handler] of ROUTES)
  app.http(name, {
    ...routeOptions(name),
    authLevel: "function",
    handler:
      name === "subscriptionsCreate" || name === "subscriptionsDelete"
        ? audit.http(name, handlers[handler])
        : handlers[handler],
  });
