/**
 * Operational facts about a tenant that are not part of its registration: the last connectivity check
 * (`POST /api/tenants/{tenant}/verify`). Kept in its own table so recording them never changes the
 * registration's ETag under a user's feet. Rows (partition `verify`, row key = the tenant) carry
 * `schemaVersion` 1 (0.1.0 wrote the same `json` column without it).
 */
import type { TableClient } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
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
      { partitionKey: PARTITION, rowKey: tenant, ...schemaVersionColumn(), json: JSON.stringify(record) },
      "Replace",
    );
  }

  /**
   * The last check, or undefined when there is none. A row whose `json` is missing or unparsable also
   * reads as none (documented default): it is an operational fact, not a registration, and the next
   * verify replaces it, so it must never fail a read of the tenant.
   */
  async lastVerify(tenant: string): Promise<VerifyRecord | undefined> {
    await this.ensureTable();
    try {
      const row = await this.client.getEntity<{ json?: string }>(PARTITION, tenant);
      return readJsonColumn<VerifyRecord | undefined>(this.client.tableName, row, "json", {
        valid: isJsonObject,
        default: () => undefined,
      });
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
