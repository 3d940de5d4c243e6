/**
 * The `deployments` ledger: one row per deployment attempt, partitioned by tenant (row key
 * `<id>~<attempt>`), plus an index row per deployment id so `GET /api/deployments/{id}` needs no scan.
 * Lists and audits come from here, never from scanning orchestration history. Writes use ETags so
 * concurrent updates (status pump, orchestration, user) never lose each other's changes.
 */
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
import { odataString, queryPage, statusCodeOf, tableInitializer } from "../storage/tables";
import type { Actor } from "../http/auth";
import type { Status } from "../messaging/contracts";
import { type Receipt, storedReceipt } from "../signing/receipts";
import {
  applyStatus,
  type CancelRequested,
  DeploymentRecord,
  healthDueAt,
  isTerminal,
  Outcome,
  OUTCOMES,
  Phase,
  PHASES,
  phaseBeforeOutcome,
  withTimeline,
} from "./model";

export const DEPLOYMENTS_TABLE = "deployments";
const INDEX_PARTITION = "~index";

export class DeploymentExistsError extends Error {
  constructor(
    readonly tenant: string,
    readonly deploymentId: string,
    readonly attempt: number,
  ) {
    super(`Deployment "${deploymentId}" attempt ${attempt} already exists for tenant "${tenant}".`);
    this.name = "DeploymentExistsError";
  }
}

class DeploymentNotFoundError extends Error {
  constructor(readonly deploymentId: string) {
    super(`Deployment "${deploymentId}" was not found.`);
    this.name = "DeploymentNotFoundError";
  }
}

/** `active` (not completed), a phase, or an outcome. */
type StatusFilter = "active" | Phase | Outcome;
export const STATUS_FILTERS: readonly StatusFilter[] = ["active", ...PHASES, ...OUTCOMES];

/**
 * An attempt's row (schema version 1; 0.1.0 wrote the same columns without `schemaVersion`). `json` is the
 * whole record; `phase` and `outcome` are copies for queries, and so are `release`, `requestedAt` and
 * `completedAt` on an attempt that deploys a release (the inventory's query; absent on other rows and on
 * rows written before releases existed).
 */
interface Row {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  json: string;
  /** JSON of the record's `receipt` (kept apart from `json`, which stays under the property limit). */
  receipt?: string;
  phase: Phase;
  outcome?: string;
  release?: string;
  requestedAt?: string;
  completedAt?: string;
  /** While a health verdict is due (0.5.0): until when (ISO 8601, so it compares as text). */
  healthDueAt?: string;
}

/** What the inventory reads of an attempt that deploys a release (ReleaseAttempt rows, few columns). */
export interface ReleaseAttempt {
  tenant: string;
  id: string;
  attempt: number;
  release: string;
  phase: Phase;
  outcome?: Outcome;
  requestedAt: string;
  completedAt?: string;
}

function rowKey(id: string, attempt: number): string {
  return `${id}~${String(attempt).padStart(4, "0")}`;
}

function toRow(record: DeploymentRecord): Row {
  const { etag: _etag, receipt, ...rest } = record;
  const due = healthDueAt(record);
  return {
    partitionKey: record.tenant,
    rowKey: rowKey(record.id, record.attempt),
    ...schemaVersionColumn(),
    json: JSON.stringify(rest),
    ...(receipt ? { receipt: JSON.stringify(receipt) } : {}),
    phase: record.phase,
    ...(record.outcome ? { outcome: record.outcome } : {}),
    // Written while a health verdict is due, gone with the write that records it: the pump's query.
    ...(due ? { healthDueAt: due } : {}),
    ...(record.release !== undefined
      ? {
          release: record.release,
          requestedAt: record.requestedAt,
          ...(record.completedAt ? { completedAt: record.completedAt } : {}),
        }
      : {}),
  };
}

/**
 * The record as a read would now answer it, without the read: the row's JSON round trip (which drops
 * undefined fields) and the ETag the write answered. Saves a storage request on every ledger write.
 */
function stored(record: DeploymentRecord, etag: string | undefined): DeploymentRecord {
  const { etag: _old, ...rest } = record;
  return { ...(JSON.parse(JSON.stringify(rest)) as DeploymentRecord), ...(etag ? { etag } : {}) };
}

/**
 * The record of a row of any supported version. `json` has no safe default (it is the record): missing or
 * unparsable, it is a StoredRowError naming the row.
 */
function fromRow(table: string, row: TableEntityResult<Row>): DeploymentRecord {
  const record = readJsonColumn<DeploymentRecord>(table, row, "json", { valid: isJsonObject });
  const receipt = row.receipt
    ? storedReceipt(readJsonColumn<unknown>(table, row, "receipt", { valid: isJsonObject }))
    : undefined;
  return { ...record, ...(receipt ? { receipt } : {}), etag: row.etag };
}

/** What applying an agent's report did to its attempt's record. */
export interface StatusReport {
  record: DeploymentRecord;
  before: DeploymentRecord;
  applied: boolean;
}

/** A report for no attempt of the reporting tenant's: `owner` is the tenant the deployment id belongs to, if any. */
interface NotRecorded {
  missing: true;
  owner?: string;
}

/** How many attempts `report` remembers as known (per process); each entry is a short string. */
const KNOWN_ATTEMPTS = 10_000;

export class DeploymentLedger {
  private readonly ensureTable: () => Promise<void>;
  /** Attempts this process has applied a report to (`<tenant>/<row key>`), oldest first; see `report`. */
  private readonly known = new Set<string>();

  constructor(
    private readonly client: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.ensureTable = tableInitializer(client);
  }

  /** Records a new attempt; an existing attempt is a DeploymentExistsError (the caller decides if it is a repeat). */
  async create(record: DeploymentRecord): Promise<DeploymentRecord> {
    await this.ensureTable();
    const first = record.timeline?.length
      ? record
      : withTimeline(record, {
          at: record.requestedAt,
          source: "provider",
          event: "Requested",
          ...(record.requestedBy ? { by: record.requestedBy } : {}),
        });
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.createEntity(toRow(first)));
    } catch (error) {
      if (statusCodeOf(error) !== 409) throw error;
      // A repeat. The first try may have died between the attempt row and its index row; the status
      // router refuses reports the index does not know (report), so the repeat repairs it first.
      await this.ensureIndexed(record.tenant, record.id, record.attempt);
      throw new DeploymentExistsError(record.tenant, record.id, record.attempt);
    }
    await this.writeIndex(record.tenant, record.id, record.attempt);
    return stored(first, etag);
  }

  private async writeIndex(tenant: string, id: string, attempt: number): Promise<void> {
    await this.client.upsertEntity(
      {
        partitionKey: INDEX_PARTITION,
        rowKey: id,
        ...schemaVersionColumn(),
        tenant,
        latestAttempt: attempt,
      },
      "Replace",
    );
  }

  /** Writes the id's index row when it is missing or names an earlier attempt (never moves it back). */
  private async ensureIndexed(tenant: string, id: string, attempt: number): Promise<void> {
    let latest: unknown;
    try {
      latest = (await this.client.getEntity<{ latestAttempt?: unknown }>(INDEX_PARTITION, id)).latestAttempt;
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
    }
    if (typeof latest !== "number" || latest < attempt) await this.writeIndex(tenant, id, attempt);
  }

  async get(tenant: string, id: string, attempt: number): Promise<DeploymentRecord | undefined> {
    await this.ensureTable();
    try {
      return fromRow(this.client.tableName, await this.client.getEntity<Row>(tenant, rowKey(id, attempt)));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The latest attempt of a deployment, by id alone. */
  async find(id: string): Promise<DeploymentRecord | undefined> {
    await this.ensureTable();
    let index: { tenant: string; latestAttempt: number };
    try {
      index = await this.client.getEntity<{ tenant: string; latestAttempt: number }>(INDEX_PARTITION, id);
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
    return this.get(index.tenant, id, index.latestAttempt);
  }

  async require(id: string): Promise<DeploymentRecord> {
    const found = await this.find(id);
    if (!found) throw new DeploymentNotFoundError(id);
    return found;
  }

  /** Every attempt of a deployment, oldest first. */
  async attempts(tenant: string, id: string): Promise<DeploymentRecord[]> {
    await this.ensureTable();
    const out: DeploymentRecord[] = [];
    const filter = `PartitionKey eq ${odataString(tenant)} and RowKey ge ${odataString(`${id}~`)} and RowKey lt ${odataString(`${id}~~`)}`;
    for await (const row of this.client.listEntities<Row>({ queryOptions: { filter } }))
      out.push(fromRow(this.client.tableName, row));
    return out;
  }

  /**
   * Read-modify-write with optimistic concurrency: `change` gets the current record and returns the new
   * one, or undefined for "nothing to do". Retried on ETag conflicts.
   */
  async update(
    tenant: string,
    id: string,
    attempt: number,
    change: (current: DeploymentRecord) => DeploymentRecord | undefined,
  ): Promise<DeploymentRecord | undefined> {
    await this.ensureTable();
    for (let i = 0; i < 10; i++) {
      const current = await this.get(tenant, id, attempt);
      if (!current) throw new DeploymentNotFoundError(id);
      const next = change(current);
      if (!next) return undefined;
      try {
        const { etag } = await this.client.updateEntity(toRow(next), "Replace", { etag: current.etag });
        return stored(next, etag);
      } catch (error) {
        if (statusCodeOf(error) !== 412) throw error;
      }
    }
    throw new Error(`Deployment "${id}" attempt ${attempt}: too many concurrent updates.`);
  }

  /**
   * Applies an agent's report (stale and duplicate reports change nothing; after the outcome only the
   * agent's own end is kept) and answers the attempt as it now stands (`record`), as it stood before
   * (`before`) and whether the report was written (`applied`), or undefined when there is no such
   * attempt: the status router needs the record anyway, so one read serves both.
   */
  async reportStatus(tenant: string, status: Status, receipt?: Receipt): Promise<StatusReport | undefined> {
    const report = await this.report(tenant, status, receipt);
    return "missing" in report ? undefined : report;
  }

  /**
   * `reportStatus` for the status router, which must also say whose a report for no attempt of the
   * tenant's is, at most one point read for such a report: a hostile or broken customer can send
   * statuses for made-up deployments as fast as it likes, so refusing one must cost little. The id's
   * index row answers both "no such attempt" (no row, or an attempt above its latest) and "whose is it"
   * (its tenant), so it is read first, unless this process already applied a report to the attempt (then
   * the attempt row's read does: ids are unique across tenants and attempt rows are never moved). A known
   * attempt's reports thus cost what they did (one read and a write); the first report of an attempt in
   * a process costs one read more.
   */
  async report(tenant: string, status: Status, receipt?: Receipt): Promise<StatusReport | NotRecorded> {
    await this.ensureTable();
    const key = `${tenant}/${rowKey(status.deploymentId, status.attempt)}`;
    if (!this.known.has(key)) {
      let index: { tenant?: unknown; latestAttempt?: unknown };
      try {
        index = await this.client.getEntity(INDEX_PARTITION, status.deploymentId);
      } catch (error) {
        if (statusCodeOf(error) === 404) return { missing: true };
        throw error;
      }
      const owner = typeof index.tenant === "string" ? index.tenant : undefined;
      if (owner !== tenant) return { missing: true, ...(owner !== undefined ? { owner } : {}) };
      if (typeof index.latestAttempt === "number" && status.attempt > index.latestAttempt)
        return { missing: true, owner };
    }
    let seen: DeploymentRecord | undefined;
    try {
      const updated = await this.update(tenant, status.deploymentId, status.attempt, (current) => {
        seen = current;
        return applyStatus(current, status, this.now().toISOString(), receipt);
      });
      this.remember(key);
      const before = seen as DeploymentRecord;
      return { record: updated ?? before, before, applied: updated !== undefined };
    } catch (error) {
      if (!(error instanceof DeploymentNotFoundError)) throw error;
      this.known.delete(key);
      return { missing: true, owner: tenant };
    }
  }

  private remember(key: string): void {
    this.known.delete(key);
    this.known.add(key);
    if (this.known.size > KNOWN_ATTEMPTS) this.known.delete(this.known.values().next().value as string);
  }

  /** Moves an attempt to a phase (never backwards, never out of Completed). */
  advance(
    tenant: string,
    id: string,
    attempt: number,
    phase: Phase,
    message?: string,
  ): Promise<DeploymentRecord | undefined> {
    return this.update(tenant, id, attempt, (current) => {
      if (isTerminal(current) || PHASES.indexOf(phase) <= PHASES.indexOf(current.phase)) return undefined;
      const now = this.now().toISOString();
      // The waiting message no longer holds once the deployment moves on.
      const { message: previous, ...rest } = current;
      const kept = current.phase === "WaitingForWindow" ? undefined : previous;
      const next = message ?? kept;
      return withTimeline(
        { ...rest, phase, ...(next !== undefined ? { message: next } : {}), updatedAt: now },
        { at: now, source: "provider", event: phase, ...(message !== undefined ? { message } : {}) },
      );
    });
  }

  /**
   * Records the outcome; the first outcome wins (terminal states are final). Returns the record as it
   * stands afterwards, so the caller learns which outcome the ledger holds.
   */
  async complete(
    tenant: string,
    id: string,
    attempt: number,
    outcome: Outcome,
    message?: string,
    options: { providerFailure?: boolean; terminatedBy?: Actor } = {},
  ): Promise<DeploymentRecord> {
    const updated = await this.update(tenant, id, attempt, (current) => {
      // The first outcome wins, but for a Provider failure recorded by reconciliation: the orchestration's
      // own outcome (after a rewind) replaces it.
      if (isTerminal(current) && !(current.providerFailure && !options.providerFailure)) return undefined;
      const now = this.now().toISOString();
      const { providerFailure: _previous, ...rest } = current;
      return withTimeline(
        {
          ...rest,
          ...(options.providerFailure ? { providerFailure: true } : {}),
          phase: "Completed",
          outcome,
          progress: outcome === "Succeeded" ? 100 : current.progress,
          ...(message !== undefined ? { message } : {}),
          ...(options.terminatedBy ? { terminatedBy: options.terminatedBy } : {}),
          suspended: undefined,
          updatedAt: now,
          completedAt: now,
        },
        {
          at: now,
          source: "provider",
          event: outcome,
          ...(message !== undefined ? { message } : {}),
          ...(options.terminatedBy ? { by: options.terminatedBy } : {}),
        },
      );
    });
    return updated ?? ((await this.get(tenant, id, attempt)) as DeploymentRecord);
  }

  /**
   * Puts an attempt whose outcome was a Provider failure back in flight (its instance is being rewound):
   * outcome and completion removed, the phase before it restored. Undefined when there is nothing to
   * reopen (no such attempt, or an outcome the orchestration decided).
   */
  async reopen(tenant: string, id: string, attempt: number): Promise<DeploymentRecord | undefined> {
    return this.update(tenant, id, attempt, (current) => {
      if (!current.providerFailure) return undefined;
      const now = this.now().toISOString();
      const { outcome: _o, completedAt: _c, providerFailure: _p, ...rest } = current;
      return withTimeline(
        { ...rest, phase: phaseBeforeOutcome(current), updatedAt: now },
        { at: now, source: "provider", event: "Reopened", message: "the instance is rewound" },
      );
    });
  }

  /**
   * Records a cancel request before its event is raised (the orchestration trusts only a recorded one).
   * The first request wins; a repeat, or one after the outcome, changes nothing. Answers the record as
   * it stands, or undefined when the attempt is gone.
   */
  async requestCancel(
    tenant: string,
    id: string,
    attempt: number,
    request: Omit<CancelRequested, "at">,
  ): Promise<DeploymentRecord | undefined> {
    try {
      const updated = await this.update(tenant, id, attempt, (current) => {
        if (isTerminal(current) || current.cancelRequested) return undefined;
        const now = this.now().toISOString();
        return withTimeline(
          { ...current, cancelRequested: { at: now, ...request }, updatedAt: now },
          {
            at: now,
            source: "provider",
            event: "CancelRequested",
            message: `${request.reason} (by ${request.by})`,
          },
        );
      });
      return updated ?? (await this.get(tenant, id, attempt));
    } catch (error) {
      if (error instanceof DeploymentNotFoundError) return undefined;
      throw error;
    }
  }

  /** Moves a just-claimed attempt to WaitingForWindow, recording when the window opens (idempotent). */
  waitForWindow(tenant: string, id: string, attempt: number, opensAt: string): Promise<unknown> {
    return this.update(tenant, id, attempt, (current) => {
      if (current.phase !== "Requested") return undefined;
      const now = this.now().toISOString();
      const message = `Waiting for the tenant's maintenance window (opens ${opensAt})`;
      return withTimeline(
        { ...current, phase: "WaitingForWindow", windowOpensAt: opensAt, message, updatedAt: now },
        { at: now, source: "provider", event: "WaitingForWindow", message },
      );
    });
  }

  /** Shows (or clears) a Durable suspend of the attempt's instance, with a timeline entry. */
  setSuspended(tenant: string, id: string, attempt: number, suspended: boolean): Promise<unknown> {
    return this.update(tenant, id, attempt, (current) => {
      if (isTerminal(current) || !!current.suspended === suspended) return undefined;
      const now = this.now().toISOString();
      return withTimeline(
        { ...current, suspended: suspended || undefined, updatedAt: now },
        { at: now, source: "provider", event: suspended ? "Suspended" : "Resumed" },
      );
    });
  }

  /**
   * The attempt an execution of a deployment orchestration runs. The first execution of the record's
   * instance claims the record's attempt; any other execution (a Durable restart, with the same or a new
   * instance id) gets a new attempt of the same deployment, like POST .../retry. A rerun of the claiming
   * activity finds its own claim, so the answer is the same however often it runs.
   */
  async claim(input: {
    tenant: string;
    id: string;
    attempt: number;
    instanceId: string;
    executionKey: string;
    specDigest: string;
  }): Promise<{ record: DeploymentRecord; restartOf?: number }> {
    const { tenant, id, instanceId, executionKey } = input;
    for (let i = 0; i < 10; i++) {
      const all = await this.attempts(tenant, id);
      const mine = all.find((r) => r.executionKey === executionKey);
      if (mine) return { record: mine };
      const named = all.find((r) => r.attempt === input.attempt);
      if (named && !named.executionKey && named.instanceId === instanceId) {
        const claimed = await this.update(tenant, id, named.attempt, (current) =>
          current.executionKey ? undefined : { ...current, executionKey },
        );
        if (claimed) return { record: claimed };
        continue; // someone else claimed it in between: look again
      }
      const latest = all[all.length - 1];
      const now = this.now().toISOString();
      try {
        const record = await this.create({
          id,
          tenant,
          attempt: (latest?.attempt ?? 0) + 1,
          instanceId,
          executionKey,
          phase: "Requested",
          progress: 0,
          specDigest: input.specDigest,
          requestedAt: now,
          updatedAt: now,
          ...(latest ? { previousAttempt: latest.attempt } : {}),
        });
        return { record, ...(latest ? { restartOf: input.attempt } : {}) };
      } catch (error) {
        if (!(error instanceof DeploymentExistsError)) throw error;
      }
    }
    throw new Error(`Deployment "${id}": too many concurrent attempts to claim an attempt.`);
  }

  /** The tenant's attempts that succeeded and still owe a health verdict at `now` (healthDueAt). */
  async awaitingHealth(tenant: string, now: Date): Promise<DeploymentRecord[]> {
    await this.ensureTable();
    const out: DeploymentRecord[] = [];
    const filter = `PartitionKey eq ${odataString(tenant)} and healthDueAt ge ${odataString(now.toISOString())}`;
    for await (const row of this.client.listEntities<Row>({ queryOptions: { filter } }))
      out.push(fromRow(this.client.tableName, row));
    return out;
  }

  /** Attempts of a tenant not yet completed, oldest first within each deployment. */
  async active(tenant: string): Promise<DeploymentRecord[]> {
    await this.ensureTable();
    const out: DeploymentRecord[] = [];
    const filter = `PartitionKey eq ${odataString(tenant)} and phase ne 'Completed'`;
    for await (const row of this.client.listEntities<Row>({ queryOptions: { filter } }))
      out.push(fromRow(this.client.tableName, row));
    return out;
  }

  /** One page of a tenant's attempts; a bad continuation token is an InvalidContinuationTokenError. */
  async list(
    tenant: string,
    options: { status?: StatusFilter; top?: number; continuationToken?: string } = {},
  ): Promise<{ items: DeploymentRecord[]; continuationToken?: string }> {
    await this.ensureTable();
    let filter = `PartitionKey eq ${odataString(tenant)}`;
    const status = options.status;
    if (status === "active") filter += ` and phase ne 'Completed'`;
    else if (status && (PHASES as readonly string[]).includes(status))
      filter += ` and phase eq ${odataString(status)}`;
    else if (status) filter += ` and outcome eq ${odataString(status)}`;
    const page = await queryPage<Row>(this.client, filter, options.top ?? 50, options.continuationToken);
    return { ...page, items: page.items.map((row) => fromRow(this.client.tableName, row)) };
  }

  /**
   * Every attempt of every tenant that deploys a release, as the inventory needs it: one query across
   * partitions for the rows that carry a `release` column, reading only the columns it needs.
   */
  async releaseAttempts(): Promise<ReleaseAttempt[]> {
    await this.ensureTable();
    const out: ReleaseAttempt[] = [];
    const select = ["PartitionKey", "RowKey", "release", "phase", "outcome", "requestedAt", "completedAt"];
    for await (const row of this.client.listEntities<Row>({
      queryOptions: { filter: "release ne ''", select },
    })) {
      const split = row.rowKey.lastIndexOf("~");
      if (!row.release || split < 0) continue;
      out.push({
        tenant: row.partitionKey,
        id: row.rowKey.slice(0, split),
        attempt: Number(row.rowKey.slice(split + 1)),
        release: row.release,
        phase: row.phase,
        ...(row.outcome ? { outcome: row.outcome as Outcome } : {}),
        requestedAt: row.requestedAt ?? "",
        ...(row.completedAt ? { completedAt: row.completedAt } : {}),
      });
    }
    return out;
  }

  /** Attempts of a tenant not yet completed (for the concurrency limit, the pump and tenant deletion). */
  async countActive(tenant: string): Promise<number> {
    await this.ensureTable();
    let n = 0;
    const filter = `PartitionKey eq ${odataString(tenant)} and phase ne 'Completed'`;
    for await (const _row of this.client.listEntities<Row>({ queryOptions: { filter, select: ["RowKey"] } }))
      n++;
    return n;
  }
}
