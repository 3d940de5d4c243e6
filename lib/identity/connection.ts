/**
 * How the Provider reaches one customer's Service Bus namespace: as its multi-tenant app's service
 * principal in the customer's directory (federated managed identity, certificate or client secret), or
 * with an entity-scoped SAS held in an app setting. One credential per customer directory, cached, never
 * shared across directories. In local mode the namespace is mapped to an emulator endpoint without
 * changing the registration.
 */
import fs from "node:fs";
import type { TokenCredential } from "@azure/core-auth";
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
} from "@azure/identity";
import {
  ConfigurationError,
  ProviderSettings,
  SETTING_NAMES,
  storedTenantSettingReadable,
} from "../config/settings";
import type { NamespaceConnection } from "../messaging/channel";
import { namespaceAllowed, type TenantRegistration } from "../tenants/model";

const TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default";

export class NamespaceNotAllowedError extends Error {
  constructor(
    readonly tenant: string,
    readonly namespace: string,
  ) {
    super(
      `Tenant "${tenant}": namespace "${namespace}" is not on the allow-list; no credential is sent to it.`,
    );
    this.name = "NamespaceNotAllowedError";
  }
}

/** A token came back for another directory than the tenant's: it is dropped, never used. */
export class CrossTenantTokenError extends Error {
  constructor(
    readonly tenant: string,
    readonly expectedDirectoryId: string,
    readonly actualDirectoryId: string,
  ) {
    super(
      `Tenant "${tenant}": the credential returned a token for directory ${actualDirectoryId}, not ${expectedDirectoryId}; it was not used.`,
    );
    this.name = "CrossTenantTokenError";
  }
}

function tokenDirectory(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
      tid?: unknown;
    };
    return typeof payload.tid === "string" ? payload.tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks every token a tenant's credential returns against the tenant's directory before it can reach
 * the wire: a token for directory A is never sent to customer B, whatever a cache, an authority or a
 * misconfiguration does. Tokens without a readable `tid` are refused too.
 */
export function directoryBound(
  credential: TokenCredential,
  tenant: string,
  directoryId: string,
): TokenCredential {
  return {
    async getToken(scopes, options) {
      const token = await credential.getToken(scopes, options);
      if (!token) return token;
      const tid = tokenDirectory(token.token);
      if (tid?.toLowerCase() !== directoryId.toLowerCase())
        throw new CrossTenantTokenError(tenant, directoryId, tid ?? "(none)");
      return token;
    },
  };
}

interface ResolvedConnection {
  /** Pool key: namespace and identity, never a secret. */
  key: string;
  connect: () => NamespaceConnection;
}

/**
 * A tenant's secret setting, read only when a stored registration may name it (storedTenantSettingReadable:
 * the tenant prefix, or a registration from before the rule that names no setting of the Provider's or the
 * platform's own). Errors name the setting and what is wrong with it, never its value.
 */
function required(env: NodeJS.ProcessEnv, setting: string, tenant: string, prefix: string): string {
  if (!storedTenantSettingReadable(setting, prefix))
    throw new ConfigurationError(
      setting,
      `is not a tenant setting (a registration may only name settings that start with ${prefix}, see ${SETTING_NAMES.tenantSecretSettingPrefix}); it is not read for tenant "${tenant}"`,
    );
  const value = env[setting]?.trim();
  if (!value) throw new ConfigurationError(setting, `is not set (needed by tenant "${tenant}")`);
  return value;
}

function endpointHost(connectionString: string): string | undefined {
  const m = /Endpoint=sb:\/\/([^/;]+)/i.exec(connectionString);
  return m?.[1]?.toLowerCase();
}

export class CustomerConnections {
  private readonly credentials = new Map<string, TokenCredential>();
  private managedIdentity?: TokenCredential;

  constructor(
    private readonly settings: ProviderSettings,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  resolve(registration: TenantRegistration): ResolvedConnection {
    const { name: tenant, directoryId } = registration;
    const namespace = registration.serviceBus.namespace.toLowerCase();
    // Defence in depth: the registry checks this too, but settings can change after registration.
    if (!namespaceAllowed(namespace, this.settings.allowedNamespaceSuffixes))
      throw new NamespaceNotAllowedError(tenant, namespace);
    const localEndpoint = this.settings.localMode ? this.settings.localEndpoints[namespace] : undefined;
    const auth = registration.auth;
    if (auth.mode === "sas") {
      const connectionString = this.read(auth.sasSetting, tenant);
      const host = endpointHost(connectionString);
      const allowedHosts = [namespace, localEndpoint?.replace(/^sb:\/\//, "").toLowerCase()];
      if (!host || !allowedHosts.includes(host)) {
        throw new ConfigurationError(
          auth.sasSetting,
          `its endpoint is ${host ? "not the namespace" : "missing or unreadable; expected the namespace"} of tenant "${tenant}" (${namespace}); a key is never sent to another host`,
        );
      }
      return { key: `${namespace}|sas|${auth.sasSetting}`, connect: () => ({ connectionString }) };
    }
    const credential = directoryBound(this.credentialFor(registration), tenant, directoryId);
    return {
      key: `${namespace}|${directoryId}|${auth.mode}`,
      connect: () => ({
        fullyQualifiedNamespace: namespace,
        credential,
        ...(localEndpoint ? { customEndpointAddress: localEndpoint } : {}),
      }),
    };
  }

  private read(setting: string, tenant: string): string {
    return required(this.env, setting, tenant, this.settings.tenantSecretSettingPrefix);
  }

  /** The cached credential for a registration's directory and auth mode. */
  credentialFor(registration: TenantRegistration): TokenCredential {
    const { auth, directoryId, name: tenant } = registration;
    const setting =
      "certificateSetting" in auth
        ? auth.certificateSetting
        : "secretSetting" in auth
          ? auth.secretSetting
          : "";
    const key = `${directoryId.toLowerCase()}|${auth.mode}|${setting}`;
    const cached = this.credentials.get(key);
    if (cached) return cached;
    const appClientId = this.settings.appClientId;
    if (!appClientId)
      throw new ConfigurationError(SETTING_NAMES.appClientId, `is not set (needed by tenant "${tenant}")`);
    const options = this.settings.authorityHost
      ? { authorityHost: this.settings.authorityHost, disableInstanceDiscovery: this.settings.localMode }
      : {};
    let credential: TokenCredential;
    switch (auth.mode) {
      case "clientSecret":
        credential = new ClientSecretCredential(
          directoryId,
          appClientId,
          this.read(auth.secretSetting, tenant),
          options,
        );
        break;
      case "certificate": {
        const certificatePath = this.read(auth.certificateSetting, tenant);
        if (!fs.existsSync(certificatePath)) {
          throw new ConfigurationError(
            auth.certificateSetting,
            `names a certificate file that does not exist (needed by tenant "${tenant}")`,
          );
        }
        credential = new ClientCertificateCredential(directoryId, appClientId, { certificatePath }, options);
        break;
      }
      case "federatedManagedIdentity": {
        const mi = this.providerIdentity();
        credential = new ClientAssertionCredential(
          directoryId,
          appClientId,
          async () => {
            const token = await mi.getToken(TOKEN_EXCHANGE_SCOPE);
            if (!token)
              throw new Error(
                `Tenant "${tenant}": the managed identity returned no token for ${TOKEN_EXCHANGE_SCOPE}.`,
              );
            return token.token;
          },
          options,
        );
        break;
      }
      default:
        throw new Error(`Tenant "${tenant}": auth mode ${auth.mode} has no token credential.`);
    }
    this.credentials.set(key, credential);
    return credential;
  }

  /** The Provider's own user-assigned identity: one per process, in the Provider's directory. */
  private providerIdentity(): TokenCredential {
    if (!this.managedIdentity) {
      const clientId = this.settings.managedIdentityClientId;
      if (!clientId)
        throw new ConfigurationError(
          SETTING_NAMES.managedIdentityClientId,
          "is not set (needed for federated sign-in)",
        );
      this.managedIdentity = new ManagedIdentityCredential({ clientId });
    }
    return this.managedIdentity;
  }
}
