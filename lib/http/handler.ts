/**
 * Wraps an HTTP handler so that every ProblemError becomes a problem+json response and any other
 * error becomes a 500 that carries only a correlation id (the invocation id), with the details logged.
 * Every handler of the API goes through here, so this is also where a cross-site state-changing
 * request is refused (403, ./origin.ts) before the handler runs, and where the whole API refuses to serve
 * (503, ./platform-auth.ts) while role checks are on without App Service Authentication in front.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { loadRoleChecks } from "../config/settings";
import { invocationLogger } from "../logging/logger";
import { requireSameOrigin } from "./origin";
import { requirePlatformAuth, RoleCheckSettings } from "./platform-auth";
import { ProblemError, problemResponse } from "./problem";

type ApiHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * `roleChecks` gives the settings the handler's own role checks use (its injected settings); by default
 * the process's app settings.
 */
export function apiHandler(
  handler: ApiHandler,
  roleChecks: () => RoleCheckSettings = () => loadRoleChecks(),
): HttpHandler {
  return async (request, context) => {
    try {
      requirePlatformAuth(roleChecks());
      requireSameOrigin(request);
      return await handler(request, context);
    } catch (error) {
      const instance = new URL(request.url).pathname;
      if (error instanceof ProblemError) return problemResponse(error, instance);
      invocationLogger(context).error("unhandled error in HTTP handler", {
        error,
        method: request.method,
        path: instance,
      });
      return problemResponse(
        new ProblemError(500, "An unexpected error occurred.", undefined, {
          correlationId: context.invocationId,
        }),
        instance,
      );
    }
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}
