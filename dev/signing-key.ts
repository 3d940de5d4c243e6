/**
 * The Provider's command-signing key for `npm start`: an EC P-256 private key in the data folder, made on
 * the first start and kept, so a restart signs with the key the agents pinned. In Azure the key lives in
 * Key Vault (infra/provider.bicep) and never leaves it.
 */
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { JSONWebKeySet } from "jose";
import { localSigningKey, publicKeySet } from "./product";

export interface LocalKey {
  /** `COMMAND_SIGNING_KEYS` for the Provider (a receipt key: `AGENT_SIGNING_KEYS` for the agent). */
  setting: string;
  /** What the agents pin (`PROVIDER_SIGNING_KEYS`; a receipt key: the tenant's `receiptKeys`). */
  jwks: JSONWebKeySet;
  /** The key was made by this start. */
  created: boolean;
}

export async function ensureCommandSigningKey(dir: string): Promise<LocalKey> {
  return ensureLocalKey(path.join(dir, "command-signing-key.pem"));
}

/**
 * A simulated customer's receipt-signing key (signed receipts, docs/messages.md): the agent signs its
 * terminal statuses with it (`setting` is its AGENT_SIGNING_KEYS), the tenant registers `jwks` as its
 * `receiptKeys`. In Azure the customer's key lives in its own Key Vault (infra/customer.bicep).
 */
export async function ensureReceiptSigningKey(dir: string, tenant: string): Promise<LocalKey> {
  return ensureLocalKey(path.join(dir, `receipt-signing-key-${tenant}.pem`));
}

async function ensureLocalKey(file: string): Promise<LocalKey> {
  const dir = path.dirname(file);
  const created = !fs.existsSync(file);
  if (created) {
    fs.mkdirSync(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  const key = await localSigningKey(fs.readFileSync(file, "utf8"), file);
  return { setting: `file:${file}`, jwks: await publicKeySet([key]), created };
}
