/**
 * Signed receipts (docs/messages.md, "Signed receipts"): the customer's agent signs its terminal status
 * (Succeeded, Failed, Cancelled, Rejected) the way the Provider signs commands (./jws.ts: ES256 detached
 * JWS over the body's canonical JSON, the body sent as those bytes, the JWS in the `signature`
 * application property), with a key the customer owns. A tenant registration may carry the customer's
 * public keys (`receiptKeys`, a JWKS); once it does, the Provider records a terminal status only when it
 * verifies with one of them, and keeps what was signed as the attempt's receipt, which anyone holding the
 * customer's public keys can verify offline: the Provider cannot make one up.
 *
 * A health verdict (Healthy, Unhealthy) is signed and checked the same way: it can halt a rollout. It is
 * verified before it is recorded, not kept as the attempt's receipt.
 *
 * Non-terminal statuses (Accepted, InProgress) and Pongs stay unsigned: they decide nothing the customer
 * would have to stand behind (progress is informational, and an outcome comes only from a terminal
 * status), and signing each would cost a Key Vault operation per progress report.
 */
import type { JSONWebKeySet, JWK } from "jose";
import { z } from "zod";

/**
 * The agent states that are signed: the ones that end the agent's run, and its health verdicts (status
 * states of lib/messaging/contracts.ts, named here so lib/signing does not import lib/messaging).
 */
const RECEIPT_STATES: ReadonlySet<string> = new Set([
  "Succeeded",
  "Failed",
  "Cancelled",
  "Rejected",
  // A health verdict can halt (and roll back) a rollout, so it is signed like an outcome.
  "Healthy",
  "Unhealthy",
]);

export const isReceiptState = (state: string): boolean => RECEIPT_STATES.has(state);

/**
 * Bounds of what is kept. A terminal status within the contract (message ≤ 1024 characters, detail ≤ 8 KB)
 * is under 16 KiB as canonical JSON, so every valid receipt fits; the record keeps it in its own column.
 */
const RECEIPT_LIMITS = { payloadBytes: 16 * 1024, signatureChars: 2048, kidChars: 512 } as const;

/** A verified terminal status as the Provider keeps it. */
export interface Receipt {
  /** The signed bytes (the status body exactly as sent), base64url. */
  payload: string;
  /** The detached compact JWS, `<protected header>..<signature>`. */
  signature: string;
  /** The key that signed it (the JWS header's `kid`). */
  kid: string;
}

/** The compact JWS of a receipt (`<header>.<payload>.<signature>`), which any JWS library verifies. */
export function compactReceipt(receipt: Receipt): string {
  const [header, , signature] = receipt.signature.split(".");
  return `${header}.${receipt.payload}.${signature}`;
}

/**
 * The receipt to keep of a terminal status whose signature verified (lib/messaging/command-trust.ts
 * `verifyMessage`: the bytes as received, the detached JWS, its key), or undefined when it is over
 * RECEIPT_LIMITS (still verified, then, and not kept).
 */
export function keptReceipt(verified: { payload: Buffer; jws: string; kid: string }): Receipt | undefined {
  const { payload, jws, kid } = verified;
  const fits =
    payload.length <= RECEIPT_LIMITS.payloadBytes &&
    jws.length <= RECEIPT_LIMITS.signatureChars &&
    kid.length <= RECEIPT_LIMITS.kidChars;
  return fits ? { payload: payload.toString("base64url"), signature: jws, kid } : undefined;
}

/** A stored receipt read tolerantly: anything not shaped like one is none. */
export function storedReceipt(value: unknown): Receipt | undefined {
  if (!value || typeof value !== "object") return undefined;
  const { payload, signature, kid } = value as Record<string, unknown>;
  if (typeof payload !== "string" || typeof signature !== "string" || typeof kid !== "string")
    return undefined;
  return { payload, signature, kid };
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** One receipt key: an EC P-256 public JWK for ES256; a private member is refused outright. */
const receiptJwk = z
  .looseObject({})
  .superRefine((jwk, ctx) => {
    for (const member of PRIVATE_MEMBERS)
      if (member in jwk)
        ctx.addIssue({
          code: "custom",
          path: [member],
          message: "is a private key member: register only the public key (never the private one)",
        });
  })
  .pipe(
    z.strictObject({
      kty: z.literal("EC", "must be EC"),
      crv: z.literal("P-256", "must be P-256"),
      x: z.string().regex(B64URL).length(43, "must be a base64url P-256 coordinate"),
      y: z.string().regex(B64URL).length(43, "must be a base64url P-256 coordinate"),
      kid: z.string().min(1).max(RECEIPT_LIMITS.kidChars),
      alg: z.literal("ES256", "must be ES256").optional(),
      use: z.literal("sig", "must be sig").optional(),
      key_ops: z.array(z.literal("verify")).max(1).optional(),
    }),
  );

/** The customer's receipt keys in a registration: a JWKS of 1-4 public keys with distinct `kid`s. */
export const receiptKeysSchema = z
  .strictObject({ keys: z.array(receiptJwk).min(1).max(4) })
  .superRefine((set, ctx) => {
    const kids = set.keys.map((k) => k.kid);
    kids.forEach((kid, i) => {
      if (kids.indexOf(kid) !== i)
        ctx.addIssue({ code: "custom", path: ["keys", i, "kid"], message: "must be unique" });
    });
  });
export type ReceiptKeys = z.infer<typeof receiptKeysSchema>;

/** The JWKS a verifier takes. */
export const receiptKeySet = (keys: ReceiptKeys): JSONWebKeySet => ({ keys: keys.keys as JWK[] });
