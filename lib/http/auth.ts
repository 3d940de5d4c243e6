/**
 * Optional role check on the App Service Authentication (EasyAuth) principal. In Azure the platform
 * validates the caller's token and forwards `x-ms-client-principal` (base64 JSON); the platform strips
 * that header from external requests, so it can be trusted behind EasyAuth. Function keys still apply.
 */
import type { HttpRequest } from "@azure/functions";
import { ProblemError } from "./problem";

export const PRINCIPAL_HEADER = "x-ms-client-principal";

export const ROLES = {
  tenantsRead: "Tenants.Read",
  tenantsAdmin: "Tenants.Admin",
  deploymentsRead: "Deployments.Read",
  deploymentsWrite: "Deployments.Write",
} as const;

export interface ClientPrincipal {
  userId?: string;
  roles: string[];
}

interface RawPrincipal {
  auth_typ?: unknown;
  claims?: unknown;
  userId?: unknown;
  userRoles?: unknown;
}

export function parsePrincipal(header: string): ClientPrincipal {
  let raw: RawPrincipal;
  try {
    raw = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as RawPrincipal;
  } catch {
    throw new ProblemError(401, `The ${PRINCIPAL_HEADER} header is not valid base64 JSON.`);
  }
  if (!raw || typeof raw !== "object")
    throw new ProblemError(401, `The ${PRINCIPAL_HEADER} header is malformed.`);
  const roles = new Set<string>();
  if (Array.isArray(raw.claims)) {
    for (const claim of raw.claims) {
      const c = claim as { typ?: unknown; val?: unknown };
      if (
        (c.typ === "roles" || c.typ === "http://schemas.microsoft.com/ws/2008/06/identity/claims/role") &&
        typeof c.val === "string"
      ) {
        roles.add(c.val);
      }
    }
  }
  if (Array.isArray(raw.userRoles)) for (const r of raw.userRoles) if (typeof r === "string") roles.add(r);
  return { userId: typeof raw.userId === "string" ? raw.userId : undefined, roles: [...roles] };
}

/**
 * When `required` is false (role checks disabled) every caller passes. Otherwise the principal must hold
 * one of `anyOf`: 401 without a principal, 403 without the role.
 */
export function requireRole(
  request: HttpRequest,
  required: boolean,
  anyOf: string[],
): ClientPrincipal | undefined {
  if (!required) return undefined;
  const header = request.headers.get(PRINCIPAL_HEADER);
  if (!header)
    throw new ProblemError(
      401,
      "Authentication is required.",
      undefined,
      {},
      { "www-authenticate": "Bearer" },
    );
  const principal = parsePrincipal(header);
  if (!anyOf.some((role) => principal.roles.includes(role))) {
    throw new ProblemError(403, `This operation requires one of the roles: ${anyOf.join(", ")}.`);
  }
  return principal;
}
