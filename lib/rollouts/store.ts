/**
 * Rollouts in Table Storage (table `rollouts`): one partition per rollout, a header row (`_`) with the
 * request, options, state and control flags, and one row per target tenant (`t|<tenant>`) with its wave,
 * deployment and outcome. Only the rollout's own activities write progress; the HTTP API writes control
 * flags (pause, abort, approvals), always under the header's ETag.
 */
import type { TableClient, TableEntityResult, TransactionAction } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
import { odataString, statusCodeOf, tableInitializer } from "../storage/tables";
import {
  isFailure,
  spendsBudget,
  type RolloutRecord,
  type RolloutTenant,
  type TenantHealth,
  type TenantPhase,
  type TenantRollback,
} from "./model";
import type { Outcome } from "../deployments/model";

export const ROLLOUTS_TABLE = "rollouts";
const HEADER = "_";
const tenantKey = (tenant: string) => `t|${tenant}`;

/**
 * The header row (schema version 1; 0.1.0 wrote the same columns without `schemaVersion`). Rows from
 * before the spec had a column of its own (pre-0.1.0 builds) carry it inside `json`; they still read.
 */
interface HeaderRow {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  json: string;
  /** The spec in a property of its own: up to 32 KiB of it must fit beside the rest (32K characters each). */
  spec?: string;
  state: string;
  createdAt: string;
}

/** A tenant row (schema version 1; 0.1.0 wrote the same columns without `schemaVersion`). No JSON. */
interface TenantRow {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  tenant: string;
  wave: number;
  phase: TenantPhase;
  deploymentId?: string;
  attempt?: number;
  outcome?: string;
  message?: string;
  /** Spends the error budget: a failed outcome, or (0.5.0) a succeeded tenant found Unhealthy. */
  failed: boolean;
  health?: string;
  healthMessage?: string;
  updatedAt?: string;
  /** The tenant's rollback (0.5.0): absent on rows before it and on tenants not rolled back. */
  rollback?: TenantRollback;
  rollbackRelease?: string;
  rollbackDeploymentId?: string;
  rollbackOutcome?: string;
  rollbackMessage?: string;
}

export class RolloutExistsError extends Error {
  constructor(readonly rolloutId: string) {
    super(`Rollout "${rolloutId}" already exists.`);
    this.name = "RolloutExistsError";
  }
}

class RolloutNotFoundError extends Error {
  constructor(readonly rolloutId: string) {
    super(`Rollout "${rolloutId}" was not found.`);
    this.name = "RolloutNotFoundError";
  }
}

function toHeaderRow(r: RolloutRecord): HeaderRow {
  const { etag: _etag, spec, ...rest } = r;
  return {
    partitionKey: r.id,
    rowKey: HEADER,
    ...schemaVersionColumn(),
    json: JSON.stringify(rest),
    spec: JSON.stringify(spec),
    state: r.state,
    createdAt: r.createdAt,
  };
}

/**
 * The record of a header row of any supported version. `json` has no safe default: missing or unparsable,
 * it is a StoredRowError naming the row. A missing `spec` column is the older shape (the spec inside
 * `json`); a spec found in neither place, or an unparsable one, is a StoredRowError too.
 */
function fromHeaderRow(table: string, row: TableEntityResult<HeaderRow>): RolloutRecord {
  const record = readJsonColumn<RolloutRecord>(table, row, "json", { valid: isJsonObject });
  const spec =
    row.spec === undefined && isJsonObject(record.spec)
      ? record.spec
      : readJsonColumn<RolloutRecord["spec"]>(table, row, "spec", { valid: isJsonObject });
  return { ...record, spec, etag: row.etag };
}

function toTenantRow(rolloutId: string, t: RolloutTenant): TenantRow {
  return {
    partitionKey: rolloutId,
    rowKey: tenantKey(t.tenant),
    ...schemaVersionColumn(),
    tenant: t.tenant,
    wave: t.wave,
    phase: t.phase,
    ...(t.deploymentId !== undefined ? { deploymentId: t.deploymentId } : {}),
    ...(t.attempt !== undefined ? { attempt: t.attempt } : {}),
    ...(t.outcome !== undefined ? { outcome: t.outcome } : {}),
    ...(t.message !== undefined ? { message: t.message.slice(0, 500) } : {}),
    failed: spendsBudget(t),
    ...(t.health !== undefined ? { health: t.health } : {}),
    ...(t.healthMessage !== undefined ? { healthMessage: t.healthMessage.slice(0, 500) } : {}),
    ...(t.updatedAt !== undefined ? { updatedAt: t.updatedAt } : {}),
  };
}

function fromTenantRow(row: TenantRow): RolloutTenant {
  return {
    tenant: row.tenant,
    wave: row.wave,
    phase: row.phase,
    ...(row.deploymentId ? { deploymentId: row.deploymentId } : {}),
    ...(row.attempt ? { attempt: row.attempt } : {}),
    ...(row.outcome ? { outcome: row.outcome as Outcome } : {}),
    ...(row.message ? { message: row.message } : {}),
    ...(row.health ? { health: row.health as TenantHealth } : {}),
    ...(row.healthMessage ? { healthMessage: row.healthMessage } : {}),
    ...(row.updatedAt ? { updatedAt: row.updatedAt } : {}),
    ...(row.rollback ? { rollback: row.rollback } : {}),
    ...(row.rollbackRelease ? { rollbackRelease: row.rollbackRelease } : {}),
    ...(row.rollbackDeploymentId ? { rollbackDeploymentId: row.rollbackDeploymentId } : {}),
    ...(row.rollbackOutcome ? { rollbackOutcome: row.rollbackOutcome as Outcome } : {}),
    ...(row.rollbackMessage ? { rollbackMessage: row.rollbackMessage } : {}),
  };
}

export class RolloutStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  /**
   * Writes the tenant rows, then the header: a header always has its rows, and a create repeated after a
   * crash between the two finds the rows already there (upserts) and writes the header.
   */
  async create(record: RolloutRecord, tenants: readonly RolloutTenant[]): Promise<RolloutRecord> {
    await this.ensureTable();
    if (await this.get(record.id)) throw new RolloutExistsError(record.id);
    await this.insertTenants(record.id, tenants);
    try {
      await this.client.createEntity(toHeaderRow(record));
    } catch (error) {
      if (statusCodeOf(error) === 409) throw new RolloutExistsError(record.id);
      throw error;
    }
    return (await this.get(record.id)) as RolloutRecord;
  }

  async get(id: string): Promise<RolloutRecord | undefined> {
    await this.ensureTable();
    try {
      const row = await this.client.getEntity<HeaderRow>(id, HEADER);
      return fromHeaderRow(this.client.tableName, row);
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Read-modify-write of the header under its ETag; `change` answers undefined for "nothing to do". */
  async update(
    id: string,
    change: (current: RolloutRecord) => RolloutRecord | undefined,
  ): Promise<RolloutRecord> {
    for (let i = 0; i < 20; i++) {
      const current = await this.get(id);
      if (!current) throw new RolloutNotFoundError(id);
      const next = change(current);
      if (!next) return current;
      try {
        await this.client.updateEntity(
          toHeaderRow({ ...next, updatedAt: new Date().toISOString() }),
          "Replace",
          {
            etag: current.etag,
          },
        );
        return (await this.get(id)) as RolloutRecord;
      } catch (error) {
        if (statusCodeOf(error) !== 412) throw error;
      }
    }
    throw new Error(`Rollout "${id}": too many concurrent updates.`);
  }

  /** Upserts tenant rows, 100 to a transaction (one partition). Idempotent. */
  /**
   * Inserts the tenant rows, 100 to a transaction. Insert-only: a start repeated after a crash finds the
   * rows its first try wrote and leaves them alone (an upsert would reset rows a running batch had already
   * moved on). A transaction fails whole when one row exists, so a failed one is retried row by row.
   */
  private async insertTenants(id: string, tenants: readonly RolloutTenant[]): Promise<void> {
    const entity = (t: RolloutTenant) =>
      toTenantRow(id, t) as unknown as Record<string, unknown> & { partitionKey: string; rowKey: string };
    for (let i = 0; i < tenants.length; i += 100) {
      const chunk = tenants.slice(i, i + 100);
      try {
        await this.client.submitTransaction(chunk.map((t): TransactionAction => ["create", entity(t)]));
      } catch {
        for (const t of chunk)
          await this.client.createEntity(entity(t)).catch((error: unknown) => {
            if (statusCodeOf(error) !== 409) throw error;
          });
      }
    }
  }

  /**
   * Merges changes into tenant rows (wave and deployment stay as they are unless given), 100 to a
   * transaction. Idempotent.
   */
  async updateTenants(
    id: string,
    changes: readonly (Partial<RolloutTenant> & { tenant: string })[],
  ): Promise<void> {
    await this.ensureTable();
    for (let i = 0; i < changes.length; i += 100) {
      const actions: TransactionAction[] = changes.slice(i, i + 100).map((c) => {
        const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
          partitionKey: id,
          rowKey: tenantKey(c.tenant),
          ...schemaVersionColumn(),
        };
        for (const [k, v] of Object.entries(c))
          if (v !== undefined)
            entity[k] = k === "message" || k === "rollbackMessage" ? String(v).slice(0, 500) : v;
        if (c.outcome !== undefined || c.phase !== undefined) entity.failed = isFailure(c.outcome);
        // A verdict comes only after the outcome Succeeded, so it alone decides the column then.
        if (c.health !== undefined) entity.failed = c.health === "Unhealthy";
        if (c.healthMessage !== undefined) entity.healthMessage = c.healthMessage.slice(0, 500);
        return ["upsert", entity, "Merge"];
      });
      await this.client.submitTransaction(actions);
    }
  }

  /** Marks every tenant still Pending as Skipped (a rollout that halts or ends early). Idempotent. */
  async skipPending(id: string): Promise<void> {
    const pending = await this.tenants(id, { phase: "Pending" });
    const now = new Date().toISOString();
    await this.updateTenants(
      id,
      pending.map((p) => ({ tenant: p.tenant, phase: "Skipped" as const, updatedAt: now })),
    );
  }

  /** One tenant row of a rollout, or undefined. */
  async tenant(id: string, tenant: string): Promise<RolloutTenant | undefined> {
    await this.ensureTable();
    try {
      return fromTenantRow(await this.client.getEntity<TenantRow>(id, tenantKey(tenant)));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Every tenant row of a rollout, in tenant order. */
  async tenants(
    id: string,
    filter?: {
      phase?: TenantPhase;
      failed?: boolean;
      rollback?: TenantRollback;
      wave?: number;
      top?: number;
    },
  ): Promise<RolloutTenant[]> {
    await this.ensureTable();
    const clauses = [`PartitionKey eq ${odataString(id)}`, `RowKey gt 't|'`];
    if (filter?.phase) clauses.push(`phase eq ${odataString(filter.phase)}`);
    if (filter?.rollback) clauses.push(`rollback eq ${odataString(filter.rollback)}`);
    if (filter?.failed !== undefined) clauses.push(`failed eq ${filter.failed}`);
    if (filter?.wave !== undefined) clauses.push(`wave eq ${Math.trunc(filter.wave)}`);
    const out: RolloutTenant[] = [];
    for await (const row of this.client.listEntities<TenantRow>({
      queryOptions: { filter: clauses.join(" and ") },
    })) {
      out.push(fromTenantRow(row as TableEntityResult<TenantRow>));
      if (filter?.top !== undefined && out.length >= filter.top) break;
    }
    return out;
  }

  /** Rollout headers, newest first. */
  async list(top: number): Promise<RolloutRecord[]> {
    await this.ensureTable();
    const out: RolloutRecord[] = [];
    for await (const row of this.client.listEntities<HeaderRow>({
      queryOptions: { filter: `RowKey eq '${HEADER}'` },
    }))
      out.push(fromHeaderRow(this.client.tableName, row));
    out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    return out.slice(0, top);
  }
}
