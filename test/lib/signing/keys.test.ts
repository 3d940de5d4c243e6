import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compactVerify, importJWK } from "jose";
import { canonicalBytes, signDetached, verifyDetached } from "../../../lib/signing/jws";
import { localSigningKey, publicKeySet, signingKeysFrom, SigningKeyError } from "../../../lib/signing/keys";

const pem = (curve = "P-256") =>
  generateKeyPairSync("ec", { namedCurve: curve }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
const noCredential = () => {
  throw new Error("no credential in this test");
};

test("a detached ES256 JWS over the canonical body verifies with the published key, and with a standard JOSE library", async () => {
  const key = await localSigningKey(pem(), "test");
  const jwks = await publicKeySet([key]);
  assert.deepEqual(Object.keys(jwks.keys[0]!).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"]);
  const body = canonicalBytes({ b: 1, a: { d: "é", c: [1.5, true] } });
  assert.equal(body.toString("utf8"), '{"a":{"c":[1.5,true],"d":"é"},"b":1}');
  const jws = await signDetached(body, key);
  assert.match(jws, /^[\w-]+\.\.[\w-]+$/);
  assert.deepEqual(await verifyDetached(jws, body, jwks), { ok: true, kid: key.kid });
  // Offline, as a customer would check it: re-attach the payload and verify the compact JWS.
  const [header, , signature] = jws.split(".");
  const attached = `${header}.${body.toString("base64url")}.${signature}`;
  const { payload } = await compactVerify(attached, await importJWK(jwks.keys[0]!, "ES256"));
  assert.equal(Buffer.from(payload).toString("utf8"), body.toString("utf8"));
});

test("a changed body, another key, a missing or malformed signature are refused with their reason", async () => {
  const key = await localSigningKey(pem(), "test");
  const other = await localSigningKey(pem(), "test");
  const jwks = await publicKeySet([key]);
  const body = canonicalBytes({ type: "Deploy", attempt: 1 });
  const jws = await signDetached(body, key);
  const changed = canonicalBytes({ type: "Deploy", attempt: 2 });
  assert.equal((await verifyDetached(jws, changed, jwks)).ok, false);
  assert.deepEqual(
    [
      await verifyDetached(jws, changed, jwks),
      await verifyDetached(await signDetached(body, other), body, jwks),
      await verifyDetached(undefined, body, jwks),
      await verifyDetached("not-a-jws", body, jwks),
    ].map((v) => (v.ok ? "ok" : v.reason)),
    ["InvalidSignature", "UnknownKey", "InvalidSignature", "InvalidSignature"],
  );
  // Two keys published at once (rotation): either verifies.
  const both = await publicKeySet([key, other]);
  assert.equal((await verifyDetached(await signDetached(body, other), body, both)).ok, true);
});

test("COMMAND_SIGNING_KEYS: file keys only in local mode, EC P-256 only, Key Vault ids with a version; errors name the setting, not a value", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "signing-"));
  const file = path.join(dir, "k.pem");
  fs.writeFileSync(file, pem());
  const options = (localMode: boolean) => ({
    setting: "COMMAND_SIGNING_KEYS",
    localMode,
    credential: noCredential,
  });
  assert.equal((await signingKeysFrom(`file:${file}`, options(true))).length, 1);
  assert.deepEqual(await signingKeysFrom(undefined, options(false)), []);
  await assert.rejects(
    signingKeysFrom(`file:${file}`, options(false)),
    /COMMAND_SIGNING_KEYS: file: keys are for local mode only/,
  );
  fs.writeFileSync(file, pem("P-384"));
  await assert.rejects(signingKeysFrom(`file:${file}`, options(true)), /must be an EC P-256 key/);
  await assert.rejects(
    signingKeysFrom("https://v.vault.azure.net/keys/command-signing", {
      ...options(false),
      credential: () => ({}) as never,
    }),
    (e: unknown) => e instanceof SigningKeyError && /must name the key's version/.test(e.message),
  );
  await assert.rejects(signingKeysFrom("secret-value-123", options(false)), (e: unknown) => {
    assert.ok(e instanceof SigningKeyError);
    assert.doesNotMatch(e.message, /secret-value-123/);
    return true;
  });
});
