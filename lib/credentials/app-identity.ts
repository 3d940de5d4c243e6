/**
 * The app's own identity in Azure, for what it reaches as itself (its storage tables, its Key Vault keys,
 * the agent's Service Bus namespace): a user-assigned managed identity named by its client id, as the
 * Functions host names one (`<setting>__clientId`); without one, DefaultAzureCredential (a
 * system-assigned identity in Azure, a developer's sign-in on a workstation). One credential per client id
 * per process, so every client of that identity shares its token cache. Not for the Provider's sign-in
 * to customer directories (lib/identity/connection.ts: a federated assertion per tenant).
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";

const credentials = new Map<string, TokenCredential>();

export function appIdentityCredential(clientId: string | undefined): TokenCredential {
  const key = clientId ?? "";
  let credential = credentials.get(key);
  if (!credential) {
    credential = clientId ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential();
    credentials.set(key, credential);
  }
  return credential;
}
