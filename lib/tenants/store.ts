/**
 * The `tenants` table: one row per registration (partition `tenant`, row key = the slug), with ETag
 * optimistic concurrency, and one claim row per namespace + queue in use (partition `queueClaim`,
 * ./claims.ts) so no two registrations share a queue. Nested registration fields are flattened into typed columns; nothing secret
 * is ever stored (the model refuses secrets, and auth stores only a setting name).
 */
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { readJsonColumn, schemaVersionColumn, isJsonObject } from "../storage/rows";
import { queryPage, statusCodeOf, tableInitializer } from "../storage/tables";
import { claimKey, QueueClaims, QueueRef, queuesOf } from "./claims";
import type { ReceiptKeys } from "../signing/receipts";
import type { Labels } from "./labels";
import type { Parameters } from "./parameters";
import type { MaintenanceWindow } from "./maintenance";
import { AuthConfig, RegistrationInput, TenantRegistration } from "./model";
import { DEFAULT_NETWORK_MODE, type NetworkMode } from "./network";
import { matchesSelector, type Selector } from "./selector";

export const TENANTS_TABLE = "tenants";
const PARTITION = "tenant";

export class TenantNotFoundError extends Error {
  constructor(readonly tenant: string) {
    super(`Tenant "${tenant}" is not registered.`);
    this.name = "TenantNotFoundError";
  }
}

export class TenantConflictError extends Error {
  constructor(
    readonly tenant: string,
    reason: string,
  ) {
    super(`Tenant "${tenant}": ${reason}`);
    this.name = "TenantConflictError";
  }
}

/** `ifMatch`: an ETag or `*` (must exist). `ifNoneMatch: "*"`: must not exist. */
export interface WriteConditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

interface TenantPage {
  items: TenantRegistration[];
  continuationToken?: string;
}

/** A registration's row (schema version 1; 0.1.0 wrote the same columns without `schemaVersion`). */
interface TenantEntity {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  directoryId: string;
  displayName?: string;
  namespace: string;
  commandQueue: string;
  statusQueue: string;
  authMode: AuthConfig["mode"];
  authSetting?: string;
  state: "active" | "suspended";
  maxConcurrentDeployments: number;
  acceptanceTimeoutSeconds: number;
  completionTimeoutSeconds: number;
  /** JSON; absent on rows written before labels existed. */
  labels?: string;
  /** JSON; absent on rows written before maintenance windows existed. */
  maintenanceWindows?: string;
  /** JSON (a JWKS); absent when the tenant registered no receipt keys, and on older rows. */
  receiptKeys?: string;
  /** `public` or `private`; absent on rows written by 0.3.0 and earlier, which are public. */
  network?: string;
  /** JSON; absent when the tenant has no parameters, and on rows written before 0.4.0. */
  parameters?: string;
  createdAt: string;
  updatedAt: string;
}

function authSetting(auth: AuthConfig): string | undefined {
  switch (auth.mode) {
    case "certificate":
      return auth.certificateSetting;
    case "clientSecret":
      return auth.secretSetting;
    case "sas":
      return auth.sasSetting;
    default:
      return undefined;
  }
}

function authFromColumns(mode: AuthConfig["mode"], setting: string | undefined): AuthConfig {
  switch (mode) {
    case "certificate":
      return { mode, certificateSetting: setting ?? "" };
    case "clientSecret":
      return { mode, secretSetting: setting ?? "" };
    case "sas":
      return { mode, sasSetting: setting ?? "" };
    default:
      return { mode: "federatedManagedIdentity" };
  }
}

function toEntity(
  name: string,
  input: RegistrationInput,
  createdAt: string,
  updatedAt: string,
): TenantEntity {
  return {
    partitionKey: PARTITION,
    rowKey: name,
    ...schemaVersionColumn(),
    directoryId: input.directoryId.toLowerCase(),
    ...(input.displayName !== undefined ? { displayName: input.displayName } : {}),
    namespace: input.serviceBus.namespace,
    commandQueue: input.serviceBus.commandQueue,
    statusQueue: input.serviceBus.statusQueue,
    authMode: input.auth.mode,
    ...(authSetting(input.auth) !== undefined ? { authSetting: authSetting(input.auth) } : {}),
    state: input.state,
    maxConcurrentDeployments: input.limits.maxConcurrentDeployments,
    acceptanceTimeoutSeconds: input.limits.acceptanceTimeoutSeconds,
    completionTimeoutSeconds: input.limits.completionTimeoutSeconds,
    labels: JSON.stringify(input.labels),
    maintenanceWindows: JSON.stringify(input.maintenanceWindows),
    ...(input.receiptKeys ? { receiptKeys: JSON.stringify(input.receiptKeys) } : {}),
    network: input.network,
    ...(input.parameters ? { parameters: JSON.stringify(input.parameters) } : {}),
    createdAt,
    updatedAt,
  };
}

/**
 * A row's network mode: absent (written before the column existed) is public, and so is a value this
 * release does not know (a newer release's): the mode changes what verify checks, never the connection.
 */
function networkOf(column: string | undefined): NetworkMode {
  return column === "private" ? "private" : DEFAULT_NETWORK_MODE;
}

/**
 * The registration of a row of any supported version. `labels` and `maintenanceWindows` absent or empty
 * (rows from before they existed) read as none; present but unparsable they are a StoredRowError naming the row,
 * never a default: reading a broken window list as "no windows" would deploy outside the window, and
 * broken labels as "none" would silently drop the tenant from a rollout.
 */
function fromEntity(table: string, e: TableEntityResult<TenantEntity>): TenantRegistration {
  const labels = e.labels ? readJsonColumn<Labels>(table, e, "labels", { valid: isJsonObject }) : {};
  const maintenanceWindows = e.maintenanceWindows
    ? readJsonColumn<MaintenanceWindow[]>(table, e, "maintenanceWindows", { valid: Array.isArray })
    : [];
  // Unparsable keys are an error, never "no keys": that would accept unsigned outcomes again.
  const receiptKeys = e.receiptKeys
    ? readJsonColumn<ReceiptKeys>(table, e, "receiptKeys", { valid: isJsonObject })
    : undefined;
  // Unparsable parameters are an error, never "none": that would deploy a release without its settings.
  const parameters = e.parameters
    ? readJsonColumn<Parameters>(table, e, "parameters", { valid: isJsonObject })
    : undefined;
  return {
    name: e.rowKey as string,
    directoryId: e.directoryId,
    ...(e.displayName ? { displayName: e.displayName } : {}),
    serviceBus: { namespace: e.namespace, commandQueue: e.commandQueue, statusQueue: e.statusQueue },
    auth: authFromColumns(e.authMode, e.authSetting),
    limits: {
      maxConcurrentDeployments: e.maxConcurrentDeployments,
      acceptanceTimeoutSeconds: e.acceptanceTimeoutSeconds,
      completionTimeoutSeconds: e.completionTimeoutSeconds,
    },
    state: e.state,
    labels,
    maintenanceWindows,
    ...(receiptKeys ? { receiptKeys } : {}),
    network: networkOf(e.network),
    ...(parameters ? { parameters } : {}),
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    etag: e.etag,
  };
}

export class TenantStore {
  private readonly ensureTable: () => Promise<void>;
  private readonly claims: QueueClaims;

  constructor(
    private readonly client: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.ensureTable = tableInitializer(client);
    this.claims = new QueueClaims(
      client,
      async (holder, ref) => {
        const registration = await this.get(holder);
        return !!registration && queuesOf(registration).some((r) => claimKeyEq(r, ref));
      },
      now,
    );
  }

  async get(name: string): Promise<TenantRegistration | undefined> {
    await this.ensureTable();
    try {
      return fromEntity(this.client.tableName, await this.client.getEntity<TenantEntity>(PARTITION, name));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  async require(name: string): Promise<TenantRegistration> {
    const found = await this.get(name);
    if (!found) throw new TenantNotFoundError(name);
    return found;
  }

  /** One page of registrations; a bad continuation token is an InvalidContinuationTokenError. */
  async list(options: { top?: number; continuationToken?: string } = {}): Promise<TenantPage> {
    await this.ensureTable();
    const page = await queryPage<TenantEntity>(
      this.client,
      `PartitionKey eq '${PARTITION}'`,
      options.top ?? 100,
      options.continuationToken,
    );
    return { ...page, items: page.items.map((e) => fromEntity(this.client.tableName, e)) };
  }

  /**
   * Every registration whose labels match the selector (all of them without one), paging through the
   * whole table: for rollouts, which target the full set. Sorted by name (the table's order).
   */
  async listAll(selector?: Selector): Promise<TenantRegistration[]> {
    const out: TenantRegistration[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.list({ top: 1000, continuationToken });
      out.push(...(selector ? page.items.filter((t) => matchesSelector(selector, t.labels)) : page.items));
      continuationToken = page.continuationToken;
    } while (continuationToken);
    return out;
  }

  /**
   * Creates or replaces a registration. Returns whether it was created. Honours If-Match / If-None-Match;
   * without conditions, a concurrent create or replace is retried so the last writer wins cleanly.
   * The registration's queues are claimed first (a QueueTakenError when another tenant holds one); the
   * claims of queues it no longer uses are released after the write, the new ones if the write fails.
   */
  async put(
    name: string,
    input: RegistrationInput,
    conditions: WriteConditions = {},
  ): Promise<{ created: boolean; registration: TenantRegistration }> {
    await this.ensureTable();
    const wanted = queuesOf(input);
    const claimed = await this.claims.claim(name, wanted);
    let result: { created: boolean; registration: TenantRegistration; previous?: TenantRegistration };
    try {
      result = await this.write(name, input, conditions);
    } catch (error) {
      await this.claims.release(name, claimed);
      throw error;
    }
    if (result.previous) await this.claims.releaseUnused(name, queuesOf(result.previous), wanted);
    return { created: result.created, registration: result.registration };
  }

  private async write(
    name: string,
    input: RegistrationInput,
    conditions: WriteConditions,
  ): Promise<{ created: boolean; registration: TenantRegistration; previous?: TenantRegistration }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.get(name);
      const timestamp = this.now().toISOString();
      if (conditions.ifNoneMatch === "*" && existing) {
        throw new TenantConflictError(name, "already exists (If-None-Match: *)");
      }
      if (conditions.ifMatch !== undefined) {
        if (!existing) throw new TenantConflictError(name, "does not exist (If-Match)");
        if (conditions.ifMatch !== "*" && conditions.ifMatch !== existing.etag) {
          throw new TenantConflictError(name, "was changed by someone else (ETag mismatch)");
        }
      }
      try {
        if (!existing) {
          await this.client.createEntity(toEntity(name, input, timestamp, timestamp));
          return { created: true, registration: await this.require(name) };
        }
        const etag = conditions.ifMatch && conditions.ifMatch !== "*" ? conditions.ifMatch : existing.etag;
        await this.client.updateEntity(toEntity(name, input, existing.createdAt, timestamp), "Replace", {
          etag,
        });
        return { created: false, registration: await this.require(name), previous: existing };
      } catch (error) {
        const status = statusCodeOf(error);
        const raced = status === 409 || status === 412;
        if (!raced) throw error;
        if (conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined) {
          throw new TenantConflictError(name, "was changed by someone else (ETag mismatch)");
        }
      }
    }
    throw new TenantConflictError(name, "too many concurrent writers; retry");
  }

  async delete(name: string, conditions: WriteConditions = {}): Promise<void> {
    await this.ensureTable();
    const existing = await this.require(name);
    if (
      conditions.ifMatch !== undefined &&
      conditions.ifMatch !== "*" &&
      conditions.ifMatch !== existing.etag
    ) {
      throw new TenantConflictError(name, "was changed by someone else (ETag mismatch)");
    }
    try {
      await this.client.deleteEntity(PARTITION, name, { etag: conditions.ifMatch ?? "*" });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 404) throw new TenantNotFoundError(name);
      if (status === 412) throw new TenantConflictError(name, "was changed by someone else (ETag mismatch)");
      throw error;
    }
    await this.claims.release(name, queuesOf(existing));
  }
}

function claimKeyEq(a: QueueRef, b: QueueRef): boolean {
  return claimKey(a) === claimKey(b);
}
