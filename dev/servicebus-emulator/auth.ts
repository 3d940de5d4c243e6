/**
 * Claims-based security for the emulator: verifies the tokens a client puts on `$cbs` (SAS tokens by
 * HMAC against the configured policies; Entra JWTs by signature against the issuer's keys, expiry,
 * audience and directory) and turns them into rights on entities, checked when a link attaches.
 */
import { createHmac, createPublicKey, createVerify, KeyObject, timingSafeEqual } from "node:crypto";
import type { NamespaceConfig, Right, Role } from "./config";
import { WELL_KNOWN_KEY, WELL_KNOWN_KEY_NAME } from "./config";
import { errors } from "./errors";

export const SERVICEBUS_AUDIENCE = "https://servicebus.azure.net";

/** What a verified token allows: rights per entity (`*` = the whole namespace). */
export interface Grant {
  /** Lower-case entity path prefix the token covers; "" = the namespace. */
  scope: string;
  rights: Set<Right>;
  expiresAt: number;
  principal: string;
}

export function entityOfAudience(audience: string): string {
  // sb://host[:port]/entity[/$management] → entity (lower case, no trailing slash)
  const withoutScheme = audience.replace(/^[a-z]+:\/\//i, "");
  const slash = withoutScheme.indexOf("/");
  const path = slash < 0 ? "" : withoutScheme.slice(slash + 1);
  // A token for `<entity>/$management` authorizes operations on the entity itself.
  return path
    .replace(/\/+$/, "")
    .replace(/\/\$management$/i, "")
    .toLowerCase();
}

function rightsOfRoles(roles: Role[]): Set<Right> {
  const rights = new Set<Right>();
  for (const role of roles) {
    if (role === "Owner") {
      rights.add("Send");
      rights.add("Listen");
      rights.add("Manage");
    } else if (role === "Sender") rights.add("Send");
    else rights.add("Listen");
  }
  return rights;
}

function b64urlJson(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

export class Authorizer {
  private readonly jwtKeys: { kid?: string; key: KeyObject }[] = [];

  constructor(private readonly ns: NamespaceConfig) {
    for (const pem of ns.Entra?.IssuerPublicKeys ?? []) this.jwtKeys.push({ key: createPublicKey(pem) });
    for (const jwk of ns.Entra?.Jwks?.keys ?? []) {
      this.jwtKeys.push({
        kid: typeof jwk.kid === "string" ? jwk.kid : undefined,
        key: createPublicKey({ key: jwk as never, format: "jwk" }),
      });
    }
  }

  private policies(entity: string): { Name: string; Key: string; Rights: Right[] }[] {
    const queue = this.ns.Queues.find((q) => q.Name.toLowerCase() === entity.split("/")[0]);
    const all = [...this.ns.SharedAccessPolicies, ...(queue?.SharedAccessPolicies ?? [])];
    if (all.length === 0)
      return [{ Name: WELL_KNOWN_KEY_NAME, Key: WELL_KNOWN_KEY, Rights: ["Manage", "Send", "Listen"] }];
    return all;
  }

  /** Verifies a put-token request; throws an unauthorized BrokerError with the reason. */
  verify(type: string, token: string, audience: string, now = Date.now()): Grant {
    if (type === "servicebus.windows.net:sastoken") return this.verifySas(token, audience, now);
    if (type === "jwt") return this.verifyJwt(token, audience, now);
    throw errors.unauthorized(`Unsupported token type '${type}'.`);
  }

  private verifySas(token: string, audience: string, now: number): Grant {
    if (this.ns.DisableLocalAuth)
      throw errors.unauthorized(
        "Local authentication (SAS) is disabled for this namespace; use an Entra ID token.",
      );
    const m = /^SharedAccessSignature (.+)$/.exec(token.trim());
    if (!m) throw errors.unauthorized("The token is not a SharedAccessSignature.");
    const fields = new Map<string, string>();
    for (const pair of (m[1] as string).split("&")) {
      const i = pair.indexOf("=");
      if (i > 0) fields.set(pair.slice(0, i), pair.slice(i + 1));
    }
    const sr = fields.get("sr");
    const sig = fields.get("sig");
    const se = fields.get("se");
    const skn = fields.get("skn");
    if (!sr || !sig || !se || !skn) throw errors.unauthorized("The SAS token is missing sr, sig, se or skn.");
    const expiry = Number(se);
    if (!Number.isFinite(expiry) || expiry * 1000 <= now)
      throw errors.unauthorized("The SAS token has expired.");
    const resource = decodeURIComponent(sr).toLowerCase().replace(/\/+$/, "");
    const scope = entityOfAudience(resource);
    const requested = entityOfAudience(audience);
    if (scope !== "" && requested !== scope && !requested.startsWith(`${scope}/`)) {
      throw errors.unauthorized(`The SAS token for '${scope}' does not cover '${requested}'.`);
    }
    const keyName = decodeURIComponent(skn);
    const policy = this.policies(requested).find((p) => p.Name === keyName);
    if (!policy) throw errors.unauthorized(`Unknown shared access policy '${keyName}'.`);
    const expected = createHmac("sha256", policy.Key).update(`${sr}\n${se}`).digest();
    const given = Buffer.from(decodeURIComponent(sig), "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw errors.unauthorized("The SAS token signature is invalid.");
    }
    const rights = new Set<Right>(policy.Rights);
    if (rights.has("Manage")) {
      rights.add("Send");
      rights.add("Listen");
    }
    return { scope, rights, expiresAt: expiry * 1000, principal: `sas:${keyName}` };
  }

  private verifyJwt(token: string, audience: string, now: number): Grant {
    const entra = this.ns.Entra;
    if (!entra) throw errors.unauthorized("This namespace does not accept Entra ID tokens; use a SAS token.");
    const parts = token.split(".");
    if (parts.length !== 3) throw errors.unauthorized("The bearer token is not a JWT.");
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = b64urlJson(parts[0] as string);
      claims = b64urlJson(parts[1] as string);
    } catch {
      throw errors.unauthorized("The bearer token is not a JWT.");
    }
    if (header.alg !== "RS256")
      throw errors.unauthorized(`Unsupported token algorithm '${String(header.alg)}'.`);
    const candidates = this.jwtKeys.filter((k) => !k.kid || !header.kid || k.kid === header.kid);
    const signed = `${parts[0]}.${parts[1]}`;
    const signature = Buffer.from(parts[2] as string, "base64url");
    const valid = candidates.some(({ key }) =>
      createVerify("RSA-SHA256").update(signed).verify(key, signature),
    );
    if (!valid) throw errors.unauthorized("The bearer token signature is invalid.");
    const exp = Number(claims.exp);
    if (!Number.isFinite(exp) || exp * 1000 <= now)
      throw errors.unauthorized("The bearer token has expired.");
    if (claims.nbf !== undefined && Number(claims.nbf) * 1000 > now + 300_000) {
      throw errors.unauthorized("The bearer token is not valid yet.");
    }
    const aud = String(claims.aud ?? "").replace(/\/+$/, "");
    if (aud !== SERVICEBUS_AUDIENCE)
      throw errors.unauthorized(`The bearer token audience '${aud}' is not ${SERVICEBUS_AUDIENCE}.`);
    if (String(claims.tid ?? "").toLowerCase() !== entra.DirectoryId.toLowerCase()) {
      throw errors.unauthorized(
        `The bearer token was issued for another directory ('${String(claims.tid)}').`,
      );
    }
    const oid = String(claims.oid ?? "");
    const requested = entityOfAudience(audience);
    const queue = requested.split("/")[0] ?? "";
    const roles = entra.RoleAssignments.filter(
      (a) =>
        a.PrincipalId.toLowerCase() === oid.toLowerCase() && (!a.Queue || a.Queue.toLowerCase() === queue),
    ).map((a) => a.Role);
    if (roles.length === 0) {
      throw errors.unauthorized(
        `Principal '${oid}' has no Service Bus data role on '${requested || "the namespace"}'.`,
      );
    }
    return { scope: queue, rights: rightsOfRoles(roles), expiresAt: exp * 1000, principal: `oid:${oid}` };
  }
}

/** Whether any live grant allows `right` on `entity`. */
export function allowed(grants: Grant[], entity: string, right: Right, now = Date.now()): boolean {
  const target = entity.toLowerCase();
  return grants.some(
    (g) =>
      g.expiresAt > now &&
      g.rights.has(right) &&
      (g.scope === "" || target === g.scope || target.startsWith(`${g.scope}/`)),
  );
}
