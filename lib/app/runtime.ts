/**
 * The Provider's runtime: every process-wide dependency, built once per process from app settings on
 * first use (never at module load: loading the app to read its registrations needs no settings). The
 * registrations (triggers/, activities/) take it from here and hand each part of lib/ the narrow view it
 * declares (DeploymentDeps, RolloutDeps, TenantApiDeps, the audit store); nothing else in lib/ imports it.
 */
import { AUDIT_TABLE, AuditStore } from "../audit/store";
import { loadSettings, type ProviderSettings, SETTING_NAMES } from "../config/settings";
import { appIdentityCredential } from "../credentials/app-identity";
import type { DeploymentDeps } from "../deployments/deps";
import { DEPLOYMENTS_TABLE, DeploymentLedger } from "../deployments/ledger";
import { inFlight } from "../deployments/reconcile";
import { CustomerConnections } from "../identity/connection";
import { ServiceBusPool } from "../messaging/channel";
import type { RolloutDeps } from "../rollouts/deps";
import { ROLLOUTS_TABLE, RolloutStore } from "../rollouts/store";
import { type SigningKey, signingKeysFrom } from "../signing/keys";
import { createTableClient } from "../storage/tables";
import { TENANT_HEALTH_TABLE, TenantHealthStore } from "../tenants/health";
import type { TenantApiDeps } from "../tenants/http";
import { TENANTS_TABLE, TenantStore } from "../tenants/store";
import { systemResolver } from "../tenants/network";
import { RELEASES_TABLE, ReleaseStore } from "../releases/store";
import { fleetInventory } from "../inventory/http";
import type { NotificationApiDeps } from "../notifications/http";
import { eventPublisher } from "../notifications/publish";
import {
  DELIVERIES_TABLE,
  DeliveryLog,
  SUBSCRIPTIONS_TABLE,
  SubscriptionStore,
} from "../notifications/store";

interface ProviderRuntime extends DeploymentDeps, RolloutDeps, Omit<NotificationApiDeps, "settings"> {
  audit: AuditStore;
  /** The tenant registry's view: what it needs of deployments, so lib/tenants never imports lib/deployments. */
  tenantApi: TenantApiDeps;
}

function createRuntime(settings: ProviderSettings, env: NodeJS.ProcessEnv = process.env): ProviderRuntime {
  let keys: Promise<SigningKey[]> | undefined;
  const table = (name: string) => createTableClient(settings.storage, name);
  const subscriptions = new SubscriptionStore(table(SUBSCRIPTIONS_TABLE));
  const deps: DeploymentDeps = {
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
    store: new TenantStore(table(TENANTS_TABLE)),
    ledger: new DeploymentLedger(table(DEPLOYMENTS_TABLE)),
    health: new TenantHealthStore(table(TENANT_HEALTH_TABLE)),
    connections: new CustomerConnections(settings, env),
    pool: new ServiceBusPool(),
    releases: new ReleaseStore(table(RELEASES_TABLE)),
    resolveHost: systemResolver,
    events: eventPublisher(subscriptions),
  };
  return {
    ...deps,
    rollouts: new RolloutStore(table(ROLLOUTS_TABLE)),
    subscriptions,
    deliveries: new DeliveryLog(table(DELIVERIES_TABLE)),
    audit: new AuditStore(table(AUDIT_TABLE)),
    tenantApi: {
      ...deps,
      inFlight: async (client, tenant) => (await inFlight(deps, client, tenant)).length,
      currentReleases: async () =>
        new Map(
          (await fleetInventory(deps)).flatMap((i) =>
            i.current ? [[i.tenant, i.current.release] as const] : [],
          ),
        ),
    },
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
