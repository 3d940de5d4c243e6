/**
 * The opening every Provider HTTP handler that needs the Durable client shares: problem+json for any
 * error (`apiHandler`), the dependencies, and the role check; and the one "tenant not registered" 404.
 * Used by ./http.ts (deployments), ./verify-http.ts (tenant verify and health) and the rollouts API. A
 * "route" is an entry of the route table (lib/http/routes.ts); what this file makes is its handler.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { requireRole } from "../http/auth";
import { apiHandler } from "../http/handler";
import { ProblemError } from "../http/problem";
import type { TenantRegistration } from "../tenants/model";
import type { DeploymentDeps } from "./deps";

/** A durable-client HTTP handler, as `df.app.client.http` registers it. */
export type DurableHandler = (
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

/** What a handler's body gets once the caller holds one of its roles. */
export interface AuthorizedCall<D = DeploymentDeps> {
  request: HttpRequest;
  client: DurableClient;
  context: InvocationContext;
  rt: D;
}

/** `authorized(roles, body)`: a DurableHandler that checks the caller holds one of `roles`, then runs `body`. */
export function authorizedHandlers<D extends Pick<DeploymentDeps, "settings">>(getRuntime: () => D) {
  return (
      roles: readonly string[],
      body: (call: AuthorizedCall<D>) => Promise<HttpResponseInit>,
    ): DurableHandler =>
    (request, client, context) =>
      apiHandler(
        async (req, ctx) => {
          const rt = getRuntime();
          requireRole(req, rt.settings.requireRoles, [...roles]);
          return body({ request: req, client, context: ctx, rt });
        },
        () => getRuntime().settings,
      )(request, context) as Promise<HttpResponseInit>;
}

/** The tenant's registration, or the API's 404. */
export async function requireRegistered(
  rt: Pick<DeploymentDeps, "store">,
  tenant: string,
): Promise<TenantRegistration> {
  const registration = await rt.store.get(tenant);
  if (!registration) throw new ProblemError(404, `Tenant "${tenant}" is not registered.`);
  return registration;
}
