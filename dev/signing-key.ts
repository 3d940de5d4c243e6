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

export interface LocalCommandKey {
  /** `COMMAND_SIGNING_KEYS` for the Provider. */
  setting: string;
  /** What the agents pin (`PROVIDER_SIGNING_KEYS`). */
  jwks: JSONWebKeySet;
  /** The key was made by this start. */
  created: boolean;
}

export async function ensureCommandSigningKey(dir: string): Promise<LocalCommandKey> {
  const file = path.join(dir, "command-signing-key.pem");
  const created = !fs.existsSync(file);
  if (created) {
    fs.mkdirSync(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  const key = await localSigningKey(fs.readFileSync(file, "utf8"), file);
  return { setting: `file:${file}`, jwks: await publicKeySet([key]), created };
}
