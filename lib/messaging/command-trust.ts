/**
 * What a customer's agent checks before it runs a command, once the Provider's signing keys are pinned
 * (docs/messages.md, "Signed commands"): the signature verifies with a pinned key, the command is for this
 * tenant, a Deploy or Ping carries a deadline still ahead, and (checked by the agent, which knows its
 * instances) a Deploy is not an attempt older than one it has already run. Anything else is refused with
 * one of the reasons below, never run and never answered.
 *
 * A Cancel needs no future deadline: the Provider sends one when a deployment times out, at its deadline,
 * and stopping work is never the harm a replay could do (a replayed Cancel is still the Provider's own,
 * for the attempt it names).
 */
import type { JSONWebKeySet } from "jose";
import { canonicalBytes, type SignatureProblem, verifyDetached } from "../signing/jws";
import { type Command, type RawMessage, SIGNATURE_PROPERTY } from "./contracts";

export type CommandRefusal = SignatureProblem | "WrongTenant" | "Expired" | "Replayed";

type TrustCheck = { ok: true } | { ok: false; reason: CommandRefusal; description: string };

/** What an agent trusts: the Provider's pinned public keys, and its own tenant name at the Provider. */
export interface ProviderTrust {
  keys: JSONWebKeySet;
  tenant: string;
}

/**
 * The bytes the signature covers: the body as it came when the host hands over bytes or text, else (a host
 * that decoded the JSON) its canonical form, which is what the sender sent.
 */
function signedBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return canonicalBytes(body);
}

/** A message whose signature verified: the key, the signed bytes and the detached JWS. */
interface VerifiedMessage {
  ok: true;
  kid: string;
  payload: Buffer;
  jws: string;
}

/**
 * Verifies a signed message (a command, or a status carrying a receipt) against `keys`: the detached JWS
 * of its `signature` property over the bytes the sender signed. Never throws for a bad signature.
 */
export async function verifyMessage(
  message: RawMessage,
  keys: JSONWebKeySet,
): Promise<VerifiedMessage | { ok: false; reason: SignatureProblem; description: string }> {
  const property = message.applicationProperties?.[SIGNATURE_PROPERTY];
  const jws = typeof property === "string" ? property : undefined;
  let payload: Buffer;
  try {
    payload = signedBytes(message.body);
  } catch {
    return { ok: false, reason: "InvalidSignature", description: "the body has no JSON form to verify" };
  }
  const verified = await verifyDetached(jws, payload, keys);
  return verified.ok ? { ok: true, kid: verified.kid, payload, jws: jws as string } : verified;
}

/** The signature over the body, before anything in it is believed. */
export async function checkSignature(message: RawMessage, trust: ProviderTrust): Promise<TrustCheck> {
  const verified = await verifyMessage(message, trust.keys);
  return verified.ok ? { ok: true } : verified;
}

/** The signed command's own claims: its tenant and its deadline. */
export function checkClaims(command: Command, trust: ProviderTrust, now: Date): TrustCheck {
  if (command.tenant !== trust.tenant)
    return {
      ok: false,
      reason: "WrongTenant",
      description: `the command is for tenant "${command.tenant}", this agent is "${trust.tenant}"`,
    };
  if (command.type !== "Cancel") {
    if (!command.deadline)
      return { ok: false, reason: "Expired", description: `a ${command.type} must carry a deadline` };
    if (Date.parse(command.deadline) <= now.getTime())
      return { ok: false, reason: "Expired", description: `the deadline ${command.deadline} has passed` };
  }
  return { ok: true };
}

/** The agent's trust from its settings: undefined while no keys are pinned (commands are not verified). */
export function trustFromSettings(
  keys: string | undefined,
  tenant: string | undefined,
  names: { keys: string; tenant: string },
): ProviderTrust | undefined {
  if (!keys?.trim()) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(keys);
  } catch {
    throw new Error(`${names.keys} is not JSON: it must be the Provider's JWKS ({"keys":[...]})`);
  }
  const set = parsed as { keys?: unknown };
  if (!set || !Array.isArray(set.keys) || set.keys.length === 0)
    throw new Error(`${names.keys} must be a JWKS with at least one key ({"keys":[...]})`);
  if (!tenant?.trim())
    throw new Error(
      `${names.tenant} must name this customer's tenant at the Provider when ${names.keys} is set`,
    );
  return { keys: set as JSONWebKeySet, tenant: tenant.trim() };
}
