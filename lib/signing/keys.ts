/**
 * The Provider's command-signing keys, from the setting `COMMAND_SIGNING_KEYS`: a comma-separated list,
 * the first key signs and every key is published (`GET /api/.well-known/jwks.json`), so a new key can be
 * published before it signs and an old one kept until the agents have dropped it (rotation). Each entry:
 * - `https://<vault>.vault.azure.net/keys/<name>/<version>`: an EC P-256 key in Azure Key Vault, used
 *   through the app's managed identity; the private key never leaves the vault (sign operation);
 * - `file:<path>` (local mode only): an EC P-256 private key in PEM, as `npm start` creates one.
 * A key's `kid` is its Key Vault key id, or the RFC 7638 thumbprint of a local key.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import fs from "node:fs";
import type { TokenCredential } from "@azure/identity";
import { CryptographyClient, KeyClient, parseKeyVaultKeyIdentifier } from "@azure/keyvault-keys";
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK } from "jose";
import type { MessageSigner } from "./jws";

export interface SigningKey extends MessageSigner {
  /** The public key as a JWK (`kid`, `alg`, `use: "sig"` set). */
  publicJwk(): Promise<JWK>;
}

export class SigningKeyError extends Error {
  constructor(
    readonly setting: string,
    detail: string,
  ) {
    super(`${setting}: ${detail}`);
    this.name = "SigningKeyError";
  }
}

function publicJwkOf(key: KeyObject, kid: string): JWK {
  const { kty, crv, x, y } = createPublicKey(key).export({ format: "jwk" }) as JWK;
  return { kty, crv, x, y, kid, alg: "ES256", use: "sig" };
}

/** An EC P-256 private key held by this process (local mode). */
export async function localSigningKey(pem: string, setting: string): Promise<SigningKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new SigningKeyError(setting, "the key file is not a PEM private key");
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw new SigningKeyError(setting, "the key must be an EC P-256 key (ES256)");
  const kid = await calculateJwkThumbprint(publicJwkOf(key, ""), "sha256");
  const jwk = publicJwkOf(key, kid);
  return {
    kid,
    sign: async (input) => sign("sha256", input, { key, dsaEncoding: "ieee-p1363" }),
    publicJwk: async () => jwk,
  };
}

/** An EC P-256 key in Azure Key Vault; signs with the vault's sign operation (`keys/sign` permission). */
function keyVaultSigningKey(keyId: string, credential: TokenCredential, setting: string): SigningKey {
  let parsed: ReturnType<typeof parseKeyVaultKeyIdentifier>;
  try {
    parsed = parseKeyVaultKeyIdentifier(keyId);
  } catch {
    throw new SigningKeyError(setting, `"${keyId}" is not a Key Vault key id`);
  }
  if (!parsed.version)
    throw new SigningKeyError(
      setting,
      "a Key Vault key id must name the key's version (rotation is explicit)",
    );
  const crypto = new CryptographyClient(keyId, credential);
  let jwk: Promise<JWK> | undefined;
  return {
    kid: keyId,
    sign: async (input) => {
      // The vault signs a digest: ES256 is ECDSA over SHA-256 of the signing input.
      const digest = createHash("sha256").update(input).digest();
      const { result } = await crypto.sign("ES256", digest);
      return Buffer.from(result);
    },
    publicJwk: () =>
      (jwk ??= new KeyClient(parsed.vaultUrl, credential)
        .getKey(parsed.name, { version: parsed.version })
        .then((k) => {
          const { kty, crv, x, y } = k.key ?? {};
          if (kty !== "EC" || crv !== "P-256" || !x || !y)
            throw new SigningKeyError(setting, `Key Vault key ${parsed.name} is not an EC P-256 key`);
          return {
            kty: "EC",
            crv: "P-256",
            x: Buffer.from(x).toString("base64url"),
            y: Buffer.from(y).toString("base64url"),
            kid: keyId,
            alg: "ES256",
            use: "sig",
          } satisfies JWK;
        })
        .catch((error: unknown) => {
          jwk = undefined;
          throw error;
        })),
  };
}

/** The keys a setting names, in order (the first signs); an empty setting is no keys. */
export async function signingKeysFrom(
  value: string | undefined,
  options: { setting: string; localMode: boolean; credential: () => TokenCredential },
): Promise<SigningKey[]> {
  const entries = (value ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  const keys: SigningKey[] = [];
  for (const entry of entries) {
    if (entry.startsWith("file:")) {
      if (!options.localMode)
        throw new SigningKeyError(
          options.setting,
          "file: keys are for local mode only; use Key Vault keys in Azure",
        );
      let pem: string;
      try {
        pem = fs.readFileSync(entry.slice("file:".length), "utf8");
      } catch {
        throw new SigningKeyError(
          options.setting,
          `the key file ${entry.slice("file:".length)} cannot be read`,
        );
      }
      keys.push(await localSigningKey(pem, options.setting));
    } else if (entry.startsWith("https://")) {
      keys.push(keyVaultSigningKey(entry, options.credential(), options.setting));
    } else {
      throw new SigningKeyError(
        options.setting,
        "each entry is a Key Vault key id (https://...) or file:<path>",
      );
    }
  }
  return keys;
}

/** The public keys to publish. */
export async function publicKeySet(keys: readonly SigningKey[]): Promise<JSONWebKeySet> {
  return { keys: await Promise.all(keys.map((k) => k.publicJwk())) };
}
