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
  rolloutsApprove: "Rollouts.Approve",
  auditRead: "Audit.Read",
  /** May use the Durable extension's own management API (its links carry the task hub's system key). */
  durableAdmin: "Durable.Admin",
} as const;

interface ClientPrincipal {
  userId?: string;
  /** The principal's display name (the claim `name_typ` names, else `name` / `preferred_username`). */
  name?: string;
  /** The Entra ID object id (`oid`). */
  objectId?: string;
  roles: string[];
}

interface RawPrincipal {
  auth_typ?: unknown;
  claims?: unknown;
  name_typ?: unknown;
  role_typ?: unknown;
  userId?: unknown;
  userDetails?: unknown;
  userRoles?: unknown;
}

const ROLE_CLAIMS = ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];
const NAME_CLAIMS = [
  "name",
  "preferred_username",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
];
const OBJECT_ID_CLAIMS = ["oid", "http://schemas.microsoft.com/identity/claims/objectidentifier"];

export function parsePrincipal(header: string): ClientPrincipal {
  let raw: RawPrincipal;
  try {
    raw = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as RawPrincipal;
  } catch {
    throw new ProblemError(401, `The ${PRINCIPAL_HEADER} header is not valid base64 JSON.`);
  }
  if (!raw || typeof raw !== "object")
    throw new ProblemError(401, `The ${PRINCIPAL_HEADER} header is malformed.`);
  const claims = (Array.isArray(raw.claims) ? (raw.claims as { typ?: unknown; val?: unknown }[]) : [])
    .filter((c) => c && typeof c.typ === "string" && typeof c.val === "string")
    .map((c) => ({ typ: c.typ as string, val: c.val as string }));
  const first = (types: string[]) => {
    for (const t of types) {
      const found = claims.find((c) => c.typ === t);
      if (found) return found.val;
    }
    return undefined;
  };
  const roleTypes = typeof raw.role_typ === "string" ? [raw.role_typ, ...ROLE_CLAIMS] : ROLE_CLAIMS;
  const roles = new Set(claims.filter((c) => roleTypes.includes(c.typ)).map((c) => c.val));
  if (Array.isArray(raw.userRoles)) for (const r of raw.userRoles) if (typeof r === "string") roles.add(r);
  const name =
    first(typeof raw.name_typ === "string" ? [raw.name_typ, ...NAME_CLAIMS] : NAME_CLAIMS) ??
    (typeof raw.userDetails === "string" ? raw.userDetails : undefined);
  const objectId = first(OBJECT_ID_CLAIMS);
  return {
    ...(typeof raw.userId === "string" ? { userId: raw.userId } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(objectId !== undefined ? { objectId } : {}),
    roles: [...roles],
  };
}

/** Who made a request, as records and the audit name them. */
export interface Actor {
  /** The principal's name, its object id when it has no name, or `local` without a principal. */
  name: string;
  objectId?: string;
}

export const LOCAL_ACTOR: Actor = { name: "local" };

/** An actor as every API answer shows it (audit records, requestedBy, startedBy, approvedBy): `{ name, id }`. */
export function actorView(actor: Actor): { name: string; id?: string } {
  return { name: actor.name, ...(actor.objectId !== undefined ? { id: actor.objectId } : {}) };
}

/**
 * The request's actor. Behind App Service Authentication the platform sets the principal header and
 * strips one sent from outside; with role checks off (local) a principal header that is present still
 * names the actor, so attribution can be tried locally. No header: `local`.
 */
export function actorOf(request: HttpRequest): Actor {
  const header = request.headers.get(PRINCIPAL_HEADER);
  if (!header) return LOCAL_ACTOR;
  const p = parsePrincipal(header);
  const name = p.name ?? p.objectId ?? p.userId;
  if (name === undefined) return LOCAL_ACTOR;
  return { name, ...(p.objectId !== undefined ? { objectId: p.objectId } : {}) };
}

/** Whether the caller holds `role`: always with role checks off, else by the principal's roles. */
export function holdsRole(request: HttpRequest, required: boolean, role: string): boolean {
  if (!required) return true;
  const header = request.headers.get(PRINCIPAL_HEADER);
  return header ? parsePrincipal(header).roles.includes(role) : false;
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
