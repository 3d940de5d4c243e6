/**
 * Operational facts about a tenant that are not part of its registration: the last connectivity check
 * (`POST /api/tenants/{tenant}/verify`). Kept in its own table so recording them never changes the
 * registration's ETag under a user's feet.
 */
import type { TableClient } from "@azure/data-tables";
import { statusCodeOf, tableInitializer } from "../storage/tables";

export const TENANT_HEALTH_TABLE = "tenanthealth";
const PARTITION = "verify";

export interface VerifyRecord {
  at: string;
  ok: boolean;
  latencyMs?: number;
  /** The first step that failed, and why. */
  failedStep?: string;
  detail?: string;
}

export class TenantHealthStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  async recordVerify(tenant: string, record: VerifyRecord): Promise<void> {
    await this.ensureTable();
    await this.client.upsertEntity(
      { partitionKey: PARTITION, rowKey: tenant, json: JSON.stringify(record) },
      "Replace",
    );
  }

  async lastVerify(tenant: string): Promise<VerifyRecord | undefined> {
    await this.ensureTable();
    try {
      const row = await this.client.getEntity<{ json: string }>(PARTITION, tenant);
      return JSON.parse(row.json) as VerifyRecord;
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  async forget(tenant: string): Promise<void> {
    await this.ensureTable();
    await this.client.deleteEntity(PARTITION, tenant).catch((error: unknown) => {
      if (statusCodeOf(error) !== 404) throw error;
    });
  }
}
