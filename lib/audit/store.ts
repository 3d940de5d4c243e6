/**
 * The audit trail in Table Storage (table `audit`): one row per state-changing request, insert-only (rows
 * are created, never replaced, merged or deleted by the product).
 *
 * Keys. The reads are "newest first", optionally since a time, for one target or one actor. So:
 * - every record is written to its day's partition, `d|<inverted day>`, with row key
 *   `<inverted milliseconds>|<invocation id>`. Table Storage answers in PartitionKey then RowKey order, so
 *   one query over the `d|` partitions is newest first across days with no sorting, `since` becomes a key
 *   range (partitions up to since's day, row keys up to since's time), and a day's partition never grows
 *   hot for long nor without bound (retention can drop whole days). One partition for everything would
 *   also read newest first, but it takes every write of every day (one partition's throughput limit) and
 *   grows forever;
 * - and a copy to its target's partition, `t|<target>` (same row key), so "what happened to deployment X"
 *   reads one small partition instead of scanning days. The two writes are separate (a transaction cannot
 *   span partitions); each is idempotent (insert; 409 = already there, a repeat of the same invocation).
 * - the actor is a column filter (`actorName` or `actorObjectId`) within the range: who-did-what queries
 *   are rare (reviews), and one index per actor would be a third write per request for them. With a
 *   filter a page may hold fewer than `top` rows (even none) and still carry a continuation token.
 * Columns are flat (no JSON), so every filter runs in the service. Rows carry `schemaVersion`.
 */
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import type { Actor } from "../http/auth";
import { schemaVersionColumn } from "../storage/rows";
import { odataString, queryPage, statusCodeOf, tableInitializer } from "../storage/tables";

export const AUDIT_TABLE = "audit";

/** One state-changing request: who asked what of which target, and what the API answered. */
export interface AuditEntry {
  /** When the request arrived (ISO 8601). */
  at: string;
  actor: Actor;
  /** `deployment.start`, `rollout.approve`, `tenant.delete`, ... (lib/audit/routes.ts). */
  action: string;
  /** `deployment:<id>`, `rollout:<id>`, `tenant:<name>`. */
  target: string;
  /** The answer's status code, refusals included. */
  status: number;
  /** The Functions invocation id (the 500's correlation id). */
  invocationId: string;
  /** The `x-ms-request-id` header, when the request carried one. */
  requestId?: string;
  /** The W3C `traceparent` header, when the request carried one. */
  traceparent?: string;
}

interface AuditRow {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  at: string;
  actorName: string;
  actorObjectId?: string;
  action: string;
  target: string;
  status: number;
  invocationId: string;
  requestId?: string;
  traceparent?: string;
}

const DAY_MS = 86_400_000;
/** 13 digits hold every millisecond until the year 2286; the day count fits 5 digits until 2243. */
const MAX_MS = 9_999_999_999_999;
const MAX_DAY = 99_999;

const invertedDay = (ms: number) => String(MAX_DAY - Math.floor(ms / DAY_MS)).padStart(5, "0");
const invertedMs = (ms: number) => String(MAX_MS - ms).padStart(13, "0");
const DAY_PREFIX = "d|";
const TARGET_PREFIX = "t|";
function toRows(entry: AuditEntry): [AuditRow, AuditRow] {
  const ms = Date.parse(entry.at);
  const rowKey = `${invertedMs(ms)}|${entry.invocationId}`;
  const columns = {
    ...schemaVersionColumn(),
    at: entry.at,
    actorName: entry.actor.name,
    ...(entry.actor.objectId !== undefined ? { actorObjectId: entry.actor.objectId } : {}),
    action: entry.action,
    target: entry.target,
    status: entry.status,
    invocationId: entry.invocationId,
    ...(entry.requestId !== undefined ? { requestId: entry.requestId } : {}),
    ...(entry.traceparent !== undefined ? { traceparent: entry.traceparent } : {}),
  };
  return [
    { partitionKey: `${DAY_PREFIX}${invertedDay(ms)}`, rowKey, ...columns },
    { partitionKey: `${TARGET_PREFIX}${entry.target}`, rowKey, ...columns },
  ];
}

function fromRow(row: AuditRow): AuditEntry {
  return {
    at: row.at,
    actor: { name: row.actorName, ...(row.actorObjectId ? { objectId: row.actorObjectId } : {}) },
    action: row.action,
    target: row.target,
    status: row.status,
    invocationId: row.invocationId,
    ...(row.requestId ? { requestId: row.requestId } : {}),
    ...(row.traceparent ? { traceparent: row.traceparent } : {}),
  };
}

interface AuditQuery {
  target?: string;
  /** An actor's name or object id. */
  actor?: string;
  /** Only records at or after this time (ISO 8601). */
  since?: string;
  top?: number;
  continuationToken?: string;
}

export class AuditStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  /** Inserts the record (its day's row and its target's copy). A repeat of the same record is a no-op. */
  async append(entry: AuditEntry): Promise<void> {
    await this.ensureTable();
    await Promise.all(
      toRows(entry).map((row) =>
        this.client.createEntity(row).catch((error: unknown) => {
          if (statusCodeOf(error) !== 409) throw error;
        }),
      ),
    );
  }

  /** Records newest first; paging through the continuation token of the previous page. */
  async list(query: AuditQuery = {}): Promise<{ items: AuditEntry[]; continuationToken?: string }> {
    await this.ensureTable();
    const clauses: string[] = [];
    const since = query.since !== undefined ? Date.parse(query.since) : undefined;
    if (query.target !== undefined)
      clauses.push(`PartitionKey eq ${odataString(`${TARGET_PREFIX}${query.target}`)}`);
    else {
      clauses.push(`PartitionKey ge '${DAY_PREFIX}'`);
      // Inverted: the days since `since` are the partitions up to its day's key.
      clauses.push(
        since !== undefined
          ? `PartitionKey le '${DAY_PREFIX}${invertedDay(since)}'`
          : `PartitionKey lt '${DAY_PREFIX.slice(0, -1)}}'`,
      );
    }
    // `~` sorts after every character of an invocation id, so the since millisecond itself is included.
    if (since !== undefined) clauses.push(`RowKey le '${invertedMs(since)}|~'`);
    if (query.actor !== undefined)
      clauses.push(
        `(actorName eq ${odataString(query.actor)} or actorObjectId eq ${odataString(query.actor)})`,
      );
    const page = await queryPage<AuditRow>(
      this.client,
      clauses.join(" and "),
      query.top ?? 100,
      query.continuationToken,
    );
    return {
      items: page.items.map((row) => fromRow(row as TableEntityResult<AuditRow>)),
      ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
    };
  }
}
