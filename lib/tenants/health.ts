/**
 * Operational facts about a tenant that are not part of its registration: the last connectivity check
 * (`POST /api/tenants/{tenant}/verify`) and the count of bad status messages with the quarantine it may
 * have begun (./quarantine.ts). Kept in their own table so recording them never changes the
 * registration's ETag under a user's feet. Verify rows (partition `verify`, row key = the tenant) carry
 * `schemaVersion` 1 (0.1.0 wrote the same `json` column without it); bad-message rows (partition
 * `badMessages`, since 0.3.0) carry `schemaVersion` 1 and a `json` column; a release before them never
 * reads that partition, and this one reads a missing row as "none counted".
 */
import type { TableClient } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
import { statusCodeOf, tableInitializer } from "../storage/tables";
import { type BadMessageCount, countBadMessages, type Quarantine, type QuarantinePolicy } from "./quarantine";

export const TENANT_HEALTH_TABLE = "tenanthealth";
const PARTITION = "verify";
const BAD_MESSAGES = "badMessages";

interface VerifyRecord {
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
    for (const partition of [PARTITION, BAD_MESSAGES])
      await this.client.deleteEntity(partition, tenant).catch((error: unknown) => {
        if (statusCodeOf(error) !== 404) throw error;
      });
  }

  /** The tenant's bad-message count and its ETag; a broken row reads as none (it is re-counted). */
  private async readCount(tenant: string): Promise<{ count?: BadMessageCount; etag?: string }> {
    try {
      const row = await this.client.getEntity<{ json?: string }>(BAD_MESSAGES, tenant);
      const count = readJsonColumn<BadMessageCount | undefined>(this.client.tableName, row, "json", {
        valid: (v) => isJsonObject(v) && Array.isArray((v as { buckets?: unknown }).buckets),
        default: () => undefined,
      });
      return { ...(count ? { count } : {}), etag: row.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return {};
      throw error;
    }
  }

  /** The tenant's quarantine, or undefined when it is not quarantined (one point read). */
  async quarantine(tenant: string): Promise<Quarantine | undefined> {
    await this.ensureTable();
    return (await this.readCount(tenant)).count?.quarantine;
  }

  /**
   * Counts `bad` more bad messages (the last refused for `reason`) and answers the quarantine if the
   * tenant is now quarantined. One read and one conditional write; the status pump is the only counter
   * of a tenant (one pump per tenant), so a conflict (with a resume) is rare and simply re-read.
   */
  async recordBadMessages(
    tenant: string,
    bad: number,
    reason: string,
    policy: QuarantinePolicy,
    now: Date = new Date(),
  ): Promise<Quarantine | undefined> {
    await this.ensureTable();
    for (let i = 0; i < 5; i++) {
      const { count, etag } = await this.readCount(tenant);
      const next = countBadMessages(count, bad, reason, policy, now.getTime());
      const row = {
        partitionKey: BAD_MESSAGES,
        rowKey: tenant,
        ...schemaVersionColumn(),
        json: JSON.stringify(next),
      };
      try {
        if (etag) await this.client.updateEntity(row, "Replace", { etag });
        else await this.client.createEntity(row);
        return next.quarantine;
      } catch (error) {
        const status = statusCodeOf(error);
        if (status !== 409 && status !== 412) throw error;
      }
    }
    throw new Error(`Tenant "${tenant}": too many concurrent updates of its bad-message count.`);
  }

  /** Lifts the quarantine and clears the count; answers the quarantine lifted, if there was one. */
  async resume(tenant: string): Promise<Quarantine | undefined> {
    await this.ensureTable();
    const { count } = await this.readCount(tenant);
    await this.client.deleteEntity(BAD_MESSAGES, tenant).catch((error: unknown) => {
      if (statusCodeOf(error) !== 404) throw error;
    });
    return count?.quarantine;
  }
}
