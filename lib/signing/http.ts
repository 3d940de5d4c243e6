/**
 * `GET /api/.well-known/jwks.json`: the Provider's command-signing public keys (a JWKS, RFC 7517), so a
 * customer can pin them at onboarding and check them again at any time. Public by nature: no role and
 * no key, and served even while the API refuses to serve for want of App Service Authentication (it
 * trusts no principal). The template excludes the path from App Service Authentication.
 */
import type { HttpHandler } from "@azure/functions";
import { json } from "../http/handler";
import { ProblemError, problemResponse } from "../http/problem";
import { invocationLogger } from "../logging/logger";
import { publicKeySet, type SigningKey } from "./keys";

export function createJwksHandler(keys: () => Promise<SigningKey[]>): HttpHandler {
  return async (request, context) => {
    try {
      return json(200, await publicKeySet(await keys()), { "cache-control": "public, max-age=300" });
    } catch (error) {
      invocationLogger(context).error("the signing keys cannot be read", { error });
      return problemResponse(
        new ProblemError(503, "The signing keys cannot be read now.", undefined, {
          correlationId: context.invocationId,
        }),
        new URL(request.url).pathname,
      );
    }
  };
}
