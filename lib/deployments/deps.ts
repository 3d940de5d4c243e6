/**
 * What the deployment workflow needs from the Provider's runtime (lib/app/runtime.ts builds it once per
 * process): settings, the signing keys, the tenant registry and health, the deployment ledger, customer
 * connections and the Service Bus client pool. Handlers and activities take it as a parameter; tests hand
 * them a partial one.
 */
import type { ServiceBusClient } from "@azure/service-bus";
import type { ProviderSettings } from "../config/settings";
import type { CustomerConnections } from "../identity/connection";
import type { ServiceBusPool } from "../messaging/channel";
import type { SigningKey } from "../signing/keys";
import type { TenantHealthStore } from "../tenants/health";
import type { TenantRegistration } from "../tenants/model";
import type { TenantStore } from "../tenants/store";
import type { HostResolver } from "../tenants/network";
import type { ReleaseStore } from "../releases/store";
import type { EventPublisher } from "../notifications/publish";
import type { DeploymentLedger } from "./ledger";

export interface DeploymentDeps {
  settings: ProviderSettings;
  /** The command-signing keys (the first signs; all are published); none when not configured. */
  signingKeys(): Promise<SigningKey[]>;
  store: TenantStore;
  ledger: DeploymentLedger;
  health: TenantHealthStore;
  connections: CustomerConnections;
  pool: ServiceBusPool;
  releases: ReleaseStore;
  /** Webhook notifications (lib/notifications): publishing an event never throws. */
  events: EventPublisher;
  /** Resolves a host name to its addresses (verify's private-path check); the system resolver by default. */
  resolveHost: HostResolver;
}

/** The pooled Service Bus client for a customer's namespace. */
export function serviceBusFor(deps: DeploymentDeps, registration: TenantRegistration): ServiceBusClient {
  const { key, connect } = deps.connections.resolve(registration);
  return deps.pool.client(key, connect);
}
