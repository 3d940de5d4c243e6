/**
 * The Provider's HTTP API in one table: each route's template (relative to the `api` prefix) and
 * methods, keyed by function name. `triggers/` register from it and the catch-all (`triggers/notFound.ts`)
 * answers from it, so a path the app serves with other methods gets a 405 naming them instead of a 404;
 * the OpenAPI test checks it against docs/openapi.yaml.
 */
import type { HttpMethod } from "@azure/functions";

export interface ApiRoute {
  route: string;
  methods: readonly HttpMethod[];
}

export const API_ROUTES = {
  tenantsList: { route: "tenants", methods: ["GET"] },
  tenantsGet: { route: "tenants/{tenant}", methods: ["GET"] },
  tenantsPut: { route: "tenants/{tenant}", methods: ["PUT"] },
  tenantsDelete: { route: "tenants/{tenant}", methods: ["DELETE"] },
  tenantsOnboarding: { route: "tenants/{tenant}/onboarding", methods: ["GET"] },
  tenantsVerify: { route: "tenants/{tenant}/verify", methods: ["POST"] },
  tenantsHealth: { route: "tenants/{tenant}/health", methods: ["GET"] },
  tenantsResume: { route: "tenants/{tenant}/resume", methods: ["POST"] },
  deploymentsStart: { route: "tenants/{tenant}/deployments", methods: ["POST"] },
  deploymentsList: { route: "tenants/{tenant}/deployments", methods: ["GET"] },
  deploymentsGet: { route: "deployments/{id}", methods: ["GET"] },
  deploymentsReceipt: { route: "deployments/{id}/receipt", methods: ["GET"] },
  deploymentsCancel: { route: "deployments/{id}/cancel", methods: ["POST"] },
  deploymentsRetry: { route: "deployments/{id}/retry", methods: ["POST"] },
  deploymentsTerminate: { route: "deployments/{id}/terminate", methods: ["POST"] },
  deploymentsRewind: { route: "deployments/{id}/rewind", methods: ["POST"] },
  rolloutsStart: { route: "rollouts", methods: ["POST"] },
  rolloutsList: { route: "rollouts", methods: ["GET"] },
  rolloutsGet: { route: "rollouts/{id}", methods: ["GET"] },
  rolloutsApprove: { route: "rollouts/{id}/approve", methods: ["POST"] },
  rolloutsPause: { route: "rollouts/{id}/pause", methods: ["POST"] },
  rolloutsResume: { route: "rollouts/{id}/resume", methods: ["POST"] },
  rolloutsAbort: { route: "rollouts/{id}/abort", methods: ["POST"] },
  rolloutsRetry: { route: "rollouts/{id}/retry", methods: ["POST"] },
  releasesCreate: { route: "releases", methods: ["POST"] },
  releasesList: { route: "releases", methods: ["GET"] },
  releasesGet: { route: "releases/{version}", methods: ["GET"] },
  inventoryGet: { route: "inventory", methods: ["GET"] },
  subscriptionsCreate: { route: "subscriptions", methods: ["POST"] },
  subscriptionsList: { route: "subscriptions", methods: ["GET"] },
  subscriptionsGet: { route: "subscriptions/{id}", methods: ["GET"] },
  subscriptionsDelete: { route: "subscriptions/{id}", methods: ["DELETE"] },
  subscriptionsDeliveries: { route: "subscriptions/{id}/deliveries", methods: ["GET"] },
  auditList: { route: "audit", methods: ["GET"] },
  dashboard: { route: "dashboard", methods: ["GET"] },
  jwks: { route: ".well-known/jwks.json", methods: ["GET"] },
} as const satisfies Record<string, ApiRoute>;

export type RouteName = keyof typeof API_ROUTES;

/** The `route` and `methods` of a trigger registration, from the table. */
export function routeOptions(name: RouteName): { route: string; methods: HttpMethod[] } {
  const { route, methods } = API_ROUTES[name];
  return { route, methods: [...methods] };
}

const segments = (path: string) => path.replace(/^\/+|\/+$/g, "").split("/");

function matches(template: string, path: string): boolean {
  const want = segments(template);
  const got = segments(path);
  return (
    want.length === got.length &&
    // Functions routes are case-insensitive; a parameter takes any one non-empty segment.
    want.every((w, i) => (/^\{.+\}$/.test(w) ? got[i] !== "" : w.toLowerCase() === got[i]?.toLowerCase()))
  );
}

/** The methods the API serves on a path (relative to the route prefix); empty when no route matches it. */
export function allowedMethods(path: string): HttpMethod[] {
  const allowed = new Set<HttpMethod>();
  for (const r of Object.values(API_ROUTES) as ApiRoute[])
    if (matches(r.route, path)) for (const m of r.methods) allowed.add(m);
  return [...allowed];
}
