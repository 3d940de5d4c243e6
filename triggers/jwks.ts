/** Publishes the command-signing public keys at /api/.well-known/jwks.json (lib/signing/http.ts). */
import { app } from "@azure/functions";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";
import { createJwksHandler } from "../lib/signing/http";

app.http("jwks", {
  ...routeOptions("jwks"),
  authLevel: "anonymous",
  handler: createJwksHandler(() => runtime().signingKeys()),
});
