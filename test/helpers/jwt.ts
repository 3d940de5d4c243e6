/** Mints RS256 JWTs for tests that play the token issuer. */
import { createSign, generateKeyPairSync, KeyObject } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";

export function newSigningKey(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { privateKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

export function signJwt(claims: Record<string, unknown>, key: KeyObject, kid?: string): string {
  const header = Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT", ...(kid ? { kid } : {}) })).toString(
    "base64url",
  );
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = createSign("RSA-SHA256").update(`${header}.${payload}`).sign(key).toString("base64url");
  return `${header}.${payload}.${signature}`;
}

/** A TokenCredential that returns a Service Bus token for the given directory and principal. */
export function staticCredential(
  key: KeyObject,
  claims: Record<string, unknown>,
): TokenCredential & { calls: number } {
  const credential = {
    calls: 0,
    async getToken() {
      credential.calls += 1;
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(
        { aud: "https://servicebus.azure.net", iat: now, nbf: now, exp: now + 3600, ...claims },
        key,
      );
      return { token, expiresOnTimestamp: (now + 3600) * 1000 };
    },
  };
  return credential;
}
