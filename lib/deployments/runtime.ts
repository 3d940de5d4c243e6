/**
 * The Provider's shared dependencies, built once per process from app settings on first use: the tenant
 * registry, the deployment ledger, customer connections and the Service Bus client pool. HTTP triggers
 * and activities take them from here, so there is one of each per process.
 */
import type { ServiceBusClient } from "@azure/service-bus";
import { loadSettings, ProviderSettings, SETTING_NAMES } from "../config/settings";
import { type SigningKey, signingKeysFrom } from "../signing/keys";
import { appIdentityCredential } from "../credentials/app-identity";
import { CustomerConnections } from "../identity/connection";
import { ServiceBusPool } from "../messaging/channel";
import { createTableClient } from "../storage/tables";
import { RELEASES_TABLE, ReleaseStore } from "../releases/store";
import type { TenantRegistration } from "../tenants/model";
import { TENANT_HEALTH_TABLE, TenantHealthStore } from "../tenants/health";
import { type HostResolver, systemResolver } from "../tenants/network";
import { TENANTS_TABLE, TenantStore } from "../tenants/store";
import { DEPLOYMENTS_TABLE, DeploymentLedger } from "./ledger";

export interface ProviderRuntime {
  settings: ProviderSettings;
  /** The command-signing keys (the first signs; all are published); none when not configured. */
  signingKeys(): Promise<SigningKey[]>;
  store: TenantStore;
  ledger: DeploymentLedger;
  health: TenantHealthStore;
  connections: CustomerConnections;
  pool: ServiceBusPool;
  /** Resolves a host name to its addresses (verify's private-path check); the system resolver by default. */
  resolveHost: HostResolver;
  releases: ReleaseStore;
}

export function createRuntime(
  settings: ProviderSettings,
  env: NodeJS.ProcessEnv = process.env,
): ProviderRuntime {
  let keys: Promise<SigningKey[]> | undefined;
  return {
    settings,
    signingKeys: () =>
      (keys ??= signingKeysFrom(settings.commandSigningKeys, {
        setting: SETTING_NAMES.commandSigningKeys,
        localMode: settings.localMode,
        credential: () => appIdentityCredential(settings.managedIdentityClientId),
      }).catch((error: unknown) => {
        keys = undefined;
        throw error;
      })),
    store: new TenantStore(createTableClient(settings.storage, TENANTS_TABLE)),
    ledger: new DeploymentLedger(createTableClient(settings.storage, DEPLOYMENTS_TABLE)),
    health: new TenantHealthStore(createTableClient(settings.storage, TENANT_HEALTH_TABLE)),
    connections: new CustomerConnections(settings, env),
    pool: new ServiceBusPool(),
    resolveHost: systemResolver,
    releases: new ReleaseStore(createTableClient(settings.storage, RELEASES_TABLE)),
  };
}

let current: ProviderRuntime | undefined;

/** The process-wide runtime, created from app settings on first use (never at module load). */
export function runtime(): ProviderRuntime {
  current ??= createRuntime(loadSettings());
  return current;
}

/** Closes the process-wide runtime's connections, if it was ever created; the next use creates a new one. */
export async function closeRuntime(): Promise<void> {
  const rt = current;
  current = undefined;
  await rt?.pool.closeAll();
}

/** The pooled Service Bus client for a customer's namespace. */
export function serviceBusFor(rt: ProviderRuntime, registration: TenantRegistration): ServiceBusClient {
  const { key, connect } = rt.connections.resolve(registration);
  return rt.pool.client(key, connect);
}
