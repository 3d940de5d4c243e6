/**
 * Signed messages between the Provider and a customer's agent: a JWS (RFC 7515) with a detached payload,
 * ES256, over the message body's canonical JSON (RFC 8785, JCS). The body goes on the wire as exactly
 * those bytes, so a receiver that has the raw bytes verifies them as they came, and one whose host
 * handed it the decoded JSON canonicalises it back to the same bytes. The signature travels beside the
 * body (the message's `signature` application property, `<protected header>..<signature>`), so a
 * receiver of the previous release, which knows nothing of it, still reads the body.
 *
 * The protected header names the key (`kid`); a verifier holds a set of public keys (a JWKS) and picks
 * by `kid`, so two keys can be valid at once while one is rotated out.
 */
import canonicalize from "canonicalize";
import { createLocalJWKSet, errors, flattenedVerify, type JSONWebKeySet } from "jose";

const SIGNATURE_ALGORITHM = "ES256";

/** What signs: a key id and an ES256 signature (IEEE P1363 r||s, 64 bytes) over the JWS signing input. */
export interface MessageSigner {
  readonly kid: string;
  sign(signingInput: Buffer): Promise<Buffer>;
}

/** The canonical JSON (RFC 8785) of a message body: the bytes that are sent and signed. */
export function canonicalBytes(body: unknown): Buffer {
  const text = canonicalize(body);
  if (text === undefined) throw new TypeError("the body has no JSON form");
  return Buffer.from(text, "utf8");
}

const b64url = (bytes: Buffer | string) => Buffer.from(bytes).toString("base64url");

/** The detached compact JWS over `payload`: `<b64url(header)>..<b64url(signature)>`. */
export async function signDetached(payload: Buffer, signer: MessageSigner): Promise<string> {
  const header = b64url(JSON.stringify({ alg: SIGNATURE_ALGORITHM, kid: signer.kid }));
  const signature = await signer.sign(Buffer.from(`${header}.${b64url(payload)}`, "ascii"));
  return `${header}..${b64url(signature)}`;
}

/** Why a signature is refused; stable strings (dead-letter reasons). */
export type SignatureProblem = "InvalidSignature" | "UnknownKey";

type Verification = { ok: true; kid: string } | { ok: false; reason: SignatureProblem; description: string };

/** Verifies a detached JWS over `payload` against `keys`; never throws for a bad signature. */
export async function verifyDetached(
  jws: string | undefined,
  payload: Buffer,
  keys: JSONWebKeySet,
): Promise<Verification> {
  if (!jws) return { ok: false, reason: "InvalidSignature", description: "the message carries no signature" };
  const parts = jws.split(".");
  if (parts.length !== 3 || parts[1] !== "")
    return {
      ok: false,
      reason: "InvalidSignature",
      description: "the signature is not a detached compact JWS",
    };
  let kid: unknown;
  try {
    kid = (JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as { kid?: unknown }).kid;
  } catch {
    return { ok: false, reason: "InvalidSignature", description: "the signature's header is not JSON" };
  }
  if (typeof kid !== "string" || kid === "")
    return { ok: false, reason: "UnknownKey", description: "the signature names no key (kid)" };
  try {
    await flattenedVerify(
      { protected: parts[0]!, payload: b64url(payload), signature: parts[2]! },
      createLocalJWKSet(keys),
      { algorithms: [SIGNATURE_ALGORITHM] },
    );
    return { ok: true, kid };
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
      return {
        ok: false,
        reason: "UnknownKey",
        description: "the signing key is not one of the pinned keys",
      };
    const what = error instanceof errors.JOSEError ? error.code : "malformed";
    return { ok: false, reason: "InvalidSignature", description: `the signature does not verify (${what})` };
  }
}
