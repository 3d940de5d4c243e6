/**
 * The rollout workflow's dependencies (lib/rollouts/deps.ts) on real Table Storage (an Azurite connection
 * string): the ledger, the registry, tenant health, the releases and the rollout store, with the settings
 * a deployment's start reads and no webhook publishing. For tests of the rollout activities.
 */
import { DeploymentLedger } from "../../lib/deployments/ledger";
import { ReleaseStore, RELEASES_TABLE } from "../../lib/releases/store";
import type { RolloutDeps } from "../../lib/rollouts/deps";
import { ROLLOUTS_TABLE, RolloutStore } from "../../lib/rollouts/store";
import { createTableClient } from "../../lib/storage/tables";
import { TenantHealthStore } from "../../lib/tenants/health";
import { TenantStore } from "../../lib/tenants/store";

export function rolloutDepsOn(connectionString: string): RolloutDeps {
  const cs = connectionString;
  return {
    settings: {
      storage: { kind: "connectionString", connectionString: cs },
      pumpReensureSeconds: 60,
      cancelGraceSeconds: 30,
      commandSendAttempts: 3,
      commandRetrySeconds: 2,
    },
    ledger: new DeploymentLedger(createTableClient(cs, "deployments")),
    store: new TenantStore(createTableClient(cs, "tenants")),
    health: new TenantHealthStore(createTableClient(cs, "tenanthealth")),
    releases: new ReleaseStore(createTableClient(cs, RELEASES_TABLE)),
    rollouts: new RolloutStore(createTableClient(cs, ROLLOUTS_TABLE)),
    events: { publish: async () => {} },
  } as unknown as RolloutDeps;
}
